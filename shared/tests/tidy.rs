//! Tidy tests over the sources of the workspace's crates.
//!
//! 1. Every numeric bound of the product lives in `shared/src/limits.rs`. A numeric constant
//!    (`const NAME: u64 = ...`, any integer or float type) declared anywhere else in the sources
//!    of `shared`, `admin` or `dataplane` fails unless it is listed in [`NOT_LIMITS`], with the
//!    reason it is not a limit (a wire-format number, a bit layout, a test fixture). A new
//!    timeout, size or count goes into limits.rs, with a doc comment saying why the number, and
//!    a compile-time assert where it relates to another bound.
//! 2. `portico-shared` does its I/O in one module. Environment reads and host name lookups go
//!    through `shared/src/system.rs`; any other module of the crate that names `std::env`,
//!    `std::fs`, `ToSocketAddrs`/`to_socket_addrs` or a socket type fails (comments excluded), so
//!    the model, the compiler's logic, the snapshot and the router stay pure.

use std::path::Path;

#[path = "../../tests/tidy/import_graph.rs"]
mod import_graph;
use import_graph::rs_files;

// === 1. limits ===

/// Numeric constants that are not limits of the product: `(file under the workspace, name, why)`.
const NOT_LIMITS: &[(&str, &str, &str)] = &[
    (
        "shared/src/router.rs",
        "GREEDY",
        "bit layout: marks a captured parameter as the node's {name+}",
    ),
    (
        "dataplane/src/text.rs",
        "HIGH",
        "bit layout: each byte's high bit, for the word-at-a-time compare",
    ),
    (
        "dataplane/src/http1/write.rs",
        "HOP_BY_HOP_LENGTHS",
        "bit mask computed from a header list",
    ),
    (
        "dataplane/src/cli/histogram.rs",
        "TICKS_PER_HALF_DISTANCE",
        "HdrHistogram's iteration parameter",
    ),
    (
        "admin/src/store/sqlite.rs",
        "SCHEMA_VERSION",
        "the database format's version",
    ),
    (
        "admin/src/sigv4/tests.rs",
        "SUITE_NOW_UNIX_S",
        "test fixture: the AWS suite's clock",
    ),
    (
        "admin/src/sigv4/botocore_fixtures.rs",
        "BOTOCORE_NOW_UNIX_S",
        "test fixture's clock",
    ),
    (
        "shared/src/quota.rs",
        "DAY_SECS",
        "calendar: seconds in a day",
    ),
    (
        "shared/src/quota.rs",
        "COUNT_BITS",
        "bit layout of the packed quota word",
    ),
    (
        "shared/src/quota.rs",
        "COUNT_MASK",
        "bit layout of the packed quota word",
    ),
    (
        "shared/src/quota.rs",
        "BIAS",
        "bit layout of the packed quota word",
    ),
    (
        "shared/src/lease.rs",
        "EPOCH_OFFSET_NS",
        "arithmetic offset keeping GCRA times positive",
    ),
    (
        "shared/src/throttle.rs",
        "EPOCH_OFFSET_NS",
        "arithmetic offset keeping GCRA times positive",
    ),
    (
        "shared/src/throttle.rs",
        "SEC",
        "unit test's nanoseconds per second",
    ),
    ("shared/src/x509.rs", "SEQUENCE", "DER tag"),
    ("shared/src/x509.rs", "SET", "DER tag"),
    ("shared/src/x509.rs", "INTEGER", "DER tag"),
    ("shared/src/x509.rs", "OID", "DER tag"),
    ("shared/src/x509.rs", "OCTET_STRING", "DER tag"),
    ("shared/src/x509.rs", "BOOLEAN", "DER tag"),
    ("shared/src/x509.rs", "UTC_TIME", "DER tag"),
    ("shared/src/x509.rs", "GENERALIZED_TIME", "DER tag"),
];

const NUMERIC_TYPES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64",
];

/// The name of the numeric constant `line` declares, if it declares one.
fn numeric_const(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("pub") {
        // `pub`, `pub(crate)`, `pub(super)`, `pub(in path)`.
        rest = match after.strip_prefix('(') {
            Some(inner) => inner.split_once(')')?.1,
            None => after,
        }
        .trim_start();
    }
    let rest = rest.strip_prefix("const ")?;
    let (name, rest) = rest.split_once(':')?;
    let name = name.trim();
    if name == "_"
        || !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let ty = rest.split('=').next()?.trim();
    NUMERIC_TYPES.contains(&ty).then_some(name)
}

/// Every numeric constant outside limits.rs: `(file, name)`.
fn numeric_consts_outside_limits() -> Vec<(String, String)> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let mut files = Vec::new();
    for crate_dir in ["shared", "admin", "dataplane"] {
        rs_files(&workspace.join(crate_dir).join("src"), &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(workspace)
            .expect("under the workspace")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "shared/src/limits.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for line in text.lines() {
            if let Some(name) = numeric_const(line) {
                found.push((rel.clone(), name.to_string()));
            }
        }
    }
    found
}

#[test]
fn every_numeric_bound_lives_in_limits_rs() {
    let found = numeric_consts_outside_limits();
    let strays: Vec<String> = found
        .iter()
        .filter(|(file, name)| !NOT_LIMITS.iter().any(|(f, n, _)| f == file && n == name))
        .map(|(file, name)| format!("{file}: {name}"))
        .collect();
    assert!(
        strays.is_empty(),
        "numeric constants outside shared/src/limits.rs (move them there, or list them in \
         NOT_LIMITS with the reason they are not limits):\n{}",
        strays.join("\n")
    );
    // An entry whose constant is gone is removed, so the list never excuses a new one.
    let stale: Vec<String> = NOT_LIMITS
        .iter()
        .filter(|(f, n, _)| !found.iter().any(|(file, name)| file == f && name == n))
        .map(|(f, n, _)| format!("{f}: {n}"))
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_LIMITS entries with no constant:\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_scan_sees_every_form_of_a_numeric_constant() {
    let check =
        |line: &str, expect: Option<&str>| assert_eq!(numeric_const(line), expect, "{line}");
    check("const QUEUE_LINES: usize = 8192;", Some("QUEUE_LINES"));
    check("pub const TIMEOUT_MS: u64 = 5_000;", Some("TIMEOUT_MS"));
    check(
        "    pub(crate) const PAGE_MAX: usize = 500;",
        Some("PAGE_MAX"),
    );
    check("pub(in crate::v1) const RATE: f64 = 1.0;", Some("RATE"));
    check("const MIN: i64 =", Some("MIN"));
    check("const NAME: &str = \"x\";", None);
    check("const TABLE: [u8; 4] = [0; 4];", None);
    check("const _: () = assert!(A <= B);", None);
    check("const fn len() -> usize {", None);
    check("let x: u64 = 5;", None);
}

// === 2. I/O ===

/// The one module allowed to do I/O.
const IO_MODULE: &str = "system.rs";

/// What marks I/O in a line of code.
const IO_MARKS: &[&str] = &[
    "std::env",
    "env::var",
    "std::fs",
    "fs::read",
    "File::open",
    "File::create",
    "ToSocketAddrs",
    "to_socket_addrs",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
];

/// The I/O marks in `code`, comments excluded.
fn io_marks(code: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let line = line.split(" //").next().unwrap_or_default();
        for mark in IO_MARKS {
            if line.contains(mark) && !found.contains(mark) {
                found.push(*mark);
            }
        }
    }
    found
}

#[test]
fn only_the_system_module_does_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with(IO_MODULE)),
        "src/{IO_MODULE} exists"
    );
    let mut offenders = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == IO_MODULE {
            continue;
        }
        let code = std::fs::read_to_string(&file).expect("a readable source file");
        let marks = io_marks(&code);
        if !marks.is_empty() {
            offenders.push(format!("{rel}: {}", marks.join(", ")));
        }
    }
    assert!(
        offenders.is_empty(),
        "I/O outside shared/src/{IO_MODULE} (call crate::system instead):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scan_sees_io_in_code_not_in_comments() {
    assert_eq!(
        io_marks("let v = std::env::var(\"X\");"),
        ["std::env", "env::var"]
    );
    assert_eq!(
        io_marks("    let a = (h, p).to_socket_addrs()?;"),
        ["to_socket_addrs"]
    );
    assert_eq!(
        io_marks("use std::net::{SocketAddr, ToSocketAddrs};"),
        ["ToSocketAddrs"]
    );
    assert!(io_marks("/// Reads std::env through crate::system.").is_empty());
    assert!(io_marks("let x = 1; // not std::fs").is_empty());
    assert!(io_marks("use std::net::SocketAddr;").is_empty());
}
