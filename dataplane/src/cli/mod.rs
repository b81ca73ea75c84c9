//! The profiling commands of the `portico` binary: `top`, `stats` and `histogram`, clients of a
//! running gateway's admin API (`GET /portico/stats`, `/portico/history`, `/portico/histograms`).
//!
//! # Architecture
//! 1. [`client::AdminClient`] makes blocking HTTP/1.1 calls, signed with SigV4 when a key pair is
//!    in the environment (the signer of `portico_shared::sigv4`). No runtime: this code never
//!    runs in a worker, so it may block and sleep.
//! 2. `stats` prints one report; `histogram` decodes a route's HdrHistogram (compressed V2,
//!    base64) and prints HdrHistogram's percentile distribution, or records interval histograms
//!    (each the difference of two successive cumulative ones) in HdrHistogram's interval log;
//!    `top` redraws a table of routes each second from the admin side's per-second history.

use clap::{Subcommand, ValueEnum};

mod client;
mod histogram;
mod stats;
mod top;
mod wait;

pub(crate) use client::AdminClient;

/// Where the admin API is (shared by every profiling command).
#[derive(Debug, clap::Args)]
pub(crate) struct AdminArgs {
    /// The gateway's admin API. Signed with PORTICO_ADMIN_ACCESS_KEY_ID and
    /// PORTICO_ADMIN_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) when set.
    #[arg(
        long,
        env = "PORTICO_ADMIN_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    admin: String,
}

/// The profiling commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// A live view of the routes of a running gateway: requests per second, status classes,
    /// latency percentiles (total, the gateway's own share, the integration's), each second.
    Top(top::TopArgs),
    /// One snapshot of every route's figures since the gateway started.
    Stats(stats::StatsArgs),
    /// A route's latency distribution (HdrHistogram percentile text, the `.hgrm` shape), or
    /// interval histograms recorded in HdrHistogram's interval log format with `--log`.
    Histogram(histogram::HistogramArgs),
    /// Wait until every live node of a cluster serves a version (`x-portico-version`).
    Wait(wait::WaitArgs),
}

/// Which of a route's histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Which {
    /// Downstream-observed latency: request head parsed to response written.
    Total,
    /// The integration's share (the upstream exchange).
    Integration,
    /// The gateway's own share: total minus the integration's.
    Gateway,
}

// === impl Which ===

impl Which {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Which::Total => "total",
            Which::Integration => "integration",
            Which::Gateway => "gateway",
        }
    }
}

/// Runs a profiling command to its end.
pub(crate) fn run(command: ProfileCommand) -> anyhow::Result<()> {
    match command {
        ProfileCommand::Top(args) => top::run(&args),
        ProfileCommand::Stats(args) => stats::run(&args),
        ProfileCommand::Histogram(args) => histogram::run(&args),
        ProfileCommand::Wait(args) => wait::run(&args),
    }
}

/// `1234` → `1234`, `12345` → `12.3k`, `1234567` → `1.23M`: fits a narrow column.
pub(crate) fn short(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// A latency in µs, narrow: `87`, `1234`, `12.3ms`, `1.23s`.
pub(crate) fn latency(us: u64) -> String {
    match us {
        0..=9_999 => us.to_string(),
        10_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}
