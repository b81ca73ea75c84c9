//! What the one-Portico modes of `loadbench` (`--auth`, `--access-log`, `--cluster`) share: every
//! target answers 200 before the load, then `wrk` rounds over the targets (the order rotating
//! each round, so drift hits every target alike), each round's rows printed, then the medians
//! and each target's ratios to its baseline.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{wrk, Args, Figures, Target};

/// One GET of `t` on a connection of its own (`t`'s Host and extra header); its status.
pub(super) fn probe(t: &Target) -> Result<u16> {
    let (addr, path) = t
        .url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or_default();
    let mut c = portico_tools::Http::connect(addr.parse()?)?;
    // The admin client's request has no extra headers: fold the header into the Host line.
    let host = t.host.clone().unwrap_or_else(|| addr.to_string());
    let host_line = match &t.header {
        Some(h) => format!("{host}\r\n{h}"),
        None => host,
    };
    Ok(c.request("GET", &path, &host_line, "", true)?.0)
}

/// Waits (5 s at most) until every target answers 200: a configuration is published, a JWKS or
/// an authorizer's first answer fetched, before the load rather than in it.
pub(super) fn wait_ready(targets: &[Target]) -> Result<()> {
    for t in targets {
        let mut status = 0;
        for _ in 0..100 {
            status = probe(t)?;
            if status == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if status != 200 {
            bail!("{} ({}) answers {status}, not 200", t.name, t.url);
        }
    }
    Ok(())
}

/// `a.rounds` rounds of `wrk` against every target, the first target of round `r` being
/// target `(r - 1) % n`; prints each row as it comes (`label` heads the name column). The
/// figures are per target, in round order.
pub(super) fn wrk_rounds(targets: &[Target], a: &Args, label: &str) -> Result<Vec<Vec<Figures>>> {
    println!(
        "# {} rounds; wrk -t1 -c{} -d{}s per {label} per round (the machine may be shared)",
        a.rounds, a.connections, a.seconds
    );
    rounds(targets, a, label, |t| wrk(t, a))
}

/// [`wrk_rounds`] with any load: `load` measures one target once.
pub(super) fn rounds(
    targets: &[Target],
    a: &Args,
    label: &str,
    load: impl Fn(&Target) -> Result<Figures>,
) -> Result<Vec<Vec<Figures>>> {
    let mut all: Vec<Vec<Figures>> = vec![Vec::new(); targets.len()];
    for round in 1..=a.rounds as usize {
        println!(
            "\n## round {round} (load average {})\n{label:<14} {:>10} {:>10} {:>10} {:>10} {:>12}",
            load_average(),
            "req/s",
            "p50",
            "p99",
            "p99.9",
            "cpu"
        );
        for k in 0..targets.len() {
            let i = (round - 1 + k) % targets.len();
            let f = load(&targets[i])?;
            println!(
                "{:<14} {:>10.0} {:>8.0}us {:>8.0}us {:>8.0}us {:>8.2}us/req",
                targets[i].name, f.rps, f.p50_us, f.p99_us, f.p999_us, f.cpu_us_per_req
            );
            all[i].push(f);
        }
    }
    Ok(all)
}

/// The median of each figure over rounds, taken one figure at a time.
pub(super) fn medians(v: &[Figures]) -> Figures {
    let med = |key: fn(&Figures) -> f64| portico_tools::median(v.iter().map(key));
    Figures {
        rps: med(|f| f.rps),
        p50_us: med(|f| f.p50_us),
        p99_us: med(|f| f.p99_us),
        p999_us: med(|f| f.p999_us),
        cpu_us_per_req: med(|f| f.cpu_us_per_req),
        cpu_system_share: med(|f| f.cpu_system_share),
    }
}

/// Prints every target's medians and, where `baseline(i)` names another target, the ratios to
/// it (throughput, p50, p99, and CPU per request, the steadiest figure on a shared machine,
/// when measured).
pub(super) fn print_medians(
    targets: &[Target],
    all: &[Vec<Figures>],
    baseline: impl Fn(usize) -> usize,
) {
    println!("\n## medians over rounds (load average {})", load_average());
    let m: Vec<Figures> = all.iter().map(|v| medians(v)).collect();
    for (i, t) in targets.iter().enumerate() {
        let f = &m[i];
        print!(
            "{:<14} {:>10.0} req/s  p50 {:>6.0}us  p99 {:>6.0}us  p99.9 {:>6.0}us  cpu {:.2}us/req",
            t.name, f.rps, f.p50_us, f.p99_us, f.p999_us, f.cpu_us_per_req
        );
        let b = baseline(i);
        if b != i {
            let base = &m[b];
            print!(
                "  /{}: rps {:.3} p50 {:.3} p99 {:.3}",
                targets[b].name,
                f.rps / base.rps,
                f.p50_us / base.p50_us,
                f.p99_us / base.p99_us,
            );
            if base.cpu_us_per_req > 0.0 {
                print!(" cpu {:.3}", f.cpu_us_per_req / base.cpu_us_per_req);
            }
        }
        println!();
    }
}

/// An HTTP API with an `HTTP_PROXY` integration to the bench upstream's `/small`; (API id,
/// the integration as a route's `target`).
pub(super) fn http_api(http: &mut portico_tools::Http) -> Result<(String, String)> {
    let api = http.call_json(
        "POST",
        "/v2/apis",
        &json!({"name": "bench", "protocolType": "HTTP"}),
    )?;
    let api = api["apiId"].as_str().context("apiId")?.to_string();
    let up = http.call_json(
        "POST",
        &format!("/v2/apis/{api}/integrations"),
        &json!({"integrationType": "HTTP_PROXY", "integrationMethod": "GET",
            "integrationUri": "http://127.0.0.1:18080/small", "payloadFormatVersion": "1.0"}),
    )?;
    let id = up["integrationId"].as_str().context("integrationId")?;
    Ok((api, format!("integrations/{id}")))
}

/// `/proc/loadavg`'s three averages, for the record.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
