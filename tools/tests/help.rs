//! Every tool answers `--help` with its usage (exit 0) and refuses an unknown flag with a usage
//! error (exit 2), through one argument parser (clap), never with a stack trace.

use std::process::Command;

const TOOLS: [&str; 7] = [
    env!("CARGO_BIN_EXE_loadbench"),
    env!("CARGO_BIN_EXE_idleconns"),
    env!("CARGO_BIN_EXE_publatency"),
    env!("CARGO_BIN_EXE_restbench"),
    env!("CARGO_BIN_EXE_cachebench"),
    env!("CARGO_BIN_EXE_wsbench"),
    env!("CARGO_BIN_EXE_lambdabench"),
];

#[test]
fn every_tool_prints_its_usage_on_help() {
    for tool in TOOLS {
        let out = Command::new(tool).arg("--help").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{tool} --help: {out:?}");
        assert!(stdout.contains("Usage:"), "{tool} --help printed {stdout}");
    }
}

#[test]
fn every_tool_refuses_an_unknown_flag_with_a_usage_error() {
    for tool in TOOLS {
        let out = Command::new(tool).arg("--no-such-flag").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tool}: {out:?}");
        assert!(stderr.contains("Usage:"), "{tool} printed {stderr}");
        assert!(
            !stderr.contains("Stack backtrace"),
            "{tool} printed {stderr}"
        );
    }
}
