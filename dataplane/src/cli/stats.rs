//! `portico stats`: one snapshot of every route (`GET /portico/stats`), as a table or JSON.

use std::fmt::Write as _;

use clap::ValueEnum;
use portico_shared::stats::{RouteReport, StatsReport};

use super::{latency, short, AdminArgs, AdminClient};

#[derive(Debug, clap::Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// `table` for people, `json` for programs (the admin API's own document).
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

pub(crate) fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let client = AdminClient::from_env(&args.admin.admin)?;
    let value = client.get_json("/portico/stats", &[])?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&value)?),
        Output::Table => {
            let report: StatsReport = serde_json::from_value(value)?;
            print!("{}", table(&report));
        }
    }
    Ok(())
}

/// The report as an aligned text table: one row per route, latencies in µs.
pub(crate) fn table(report: &StatsReport) -> String {
    let header = [
        "API", "STAGE", "ROUTE", "COUNT", "2XX", "4XX", "5XX", "THR", "P50", "P90", "P99", "P99.9",
        "MAX", "GW P50", "GW P99", "INT P50", "INT P99",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in &report.routes {
        rows.push(row(r));
    }
    let mut out = String::new();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        for (c, cell) in r.iter().enumerate() {
            if c < 3 {
                let _ = write!(out, "{cell:<w$}  ", w = widths[c]);
            } else {
                let _ = write!(out, "{cell:>w$}  ", w = widths[c]);
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    let c = &report.counters;
    let _ = writeln!(
        out,
        "\nlatencies in µs (GW: the gateway's own share; INT: the integration's); THR: throttled \
         (429, within 4XX). requests {} · not found {} · bad requests {} · upstream errors {} · \
         upstream timeouts {}",
        c.requests, c.not_found, c.bad_requests, c.upstream_errors, c.upstream_timeouts
    );
    out
}

fn row(r: &RouteReport) -> Vec<String> {
    vec![
        r.api_id.clone(),
        r.stage.clone(),
        r.route_key.clone(),
        short(r.count),
        short(r.status_2xx),
        short(r.status_4xx),
        short(r.status_5xx),
        short(r.throttled_count),
        latency(r.latency_us.p50),
        latency(r.latency_us.p90),
        latency(r.latency_us.p99),
        latency(r.latency_us.p999),
        latency(r.latency_us.max),
        latency(r.gateway_latency_us.p50),
        latency(r.gateway_latency_us.p99),
        latency(r.integration_latency_us.p50),
        latency(r.integration_latency_us.p99),
    ]
}
