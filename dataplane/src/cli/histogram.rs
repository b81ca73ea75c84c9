//! `portico histogram`: a route's latency distribution in HdrHistogram's own formats.
//!
//! Without `--log`: the percentile distribution text of `Histogram.outputPercentileDistribution`
//! (the `.hgrm` file HdrHistogram's plotter reads), values in µs. With `--log FILE`: every
//! `--interval` for `--duration`, the difference between two successive cumulative histograms is
//! written to an interval log (`#[StartTime: ...]`, `#[BaseTime: ...]`,
//! `Tag=...,start,length,max,base64`) that `HistogramLogProcessor` and every port's log reader
//! read. The gateway's workers publish their stats once a second, so intervals shorter than a
//! second are refused, and each interval holds the requests published within it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::{AdminArgs, AdminClient, Which};

/// Ticks per half distance of the percentile iteration (HdrHistogram's default: 5).
const TICKS_PER_HALF_DISTANCE: u32 = 5;

#[derive(Debug, clap::Args)]
pub(crate) struct HistogramArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// The API id.
    #[arg(long)]
    api: String,
    /// The stage name (`$default`, `prod`; a canary is `NAME/canary`).
    #[arg(long)]
    stage: String,
    /// The route key as `portico stats` shows it (`GET /pets`, `$default`).
    #[arg(long)]
    route: String,
    /// Which latency: the total, the integration's share or the gateway's own.
    #[arg(long, value_enum, default_value_t = Which::Total)]
    which: Which,
    /// Record interval histograms into FILE (HdrHistogram interval log) instead of printing
    /// the distribution.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Length of each logged interval (`1s`, `500ms` is refused: stats publish once a second).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// How long to record with `--log`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
}

pub(crate) fn run(args: &HistogramArgs) -> anyhow::Result<()> {
    let client = AdminClient::from_env(&args.admin.admin)?;
    match &args.log {
        None => {
            let h = fetch(&client, args)?.ok_or_else(|| {
                anyhow!(
                    "no requests recorded yet for route {:?} of API {} stage {}",
                    args.route,
                    args.api,
                    args.stage
                )
            })?;
            print!("{}", percentile_distribution(&h, 1.0));
            Ok(())
        }
        Some(path) => record_log(&client, args, path),
    }
}

/// The route's cumulative histogram (`None`: nothing recorded on it yet).
fn fetch(client: &AdminClient, args: &HistogramArgs) -> anyhow::Result<Option<Histogram<u64>>> {
    let query = [
        ("api", args.api.as_str()),
        ("stage", args.stage.as_str()),
        ("route", args.route.as_str()),
    ];
    let (status, body) = client.get("/portico/histograms", &query)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .context("the admin API answered /portico/histograms with something that is not JSON")?;
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        bail!(
            "the admin API answered /portico/histograms with {status}: {}",
            value["message"].as_str().unwrap_or("no message")
        );
    }
    let encoded = value[args.which.as_str()]["encoded"]
        .as_str()
        .ok_or_else(|| anyhow!("the admin API's histograms lack {:?}", args.which.as_str()))?;
    decode(encoded).map(Some)
}

/// HdrHistogram's base64 encoding (compressed or not) to a histogram.
pub(crate) fn decode(encoded: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("the histogram is not base64")?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow!("the histogram does not decode: {e:?}"))
}

/// `Histogram.outputPercentileDistribution(out, ticks = 5, scaling)`, byte for byte: the
/// `Value Percentile TotalCount 1/(1-Percentile)` table, then the `#[Mean = ...]` footer.
pub(crate) fn percentile_distribution(h: &Histogram<u64>, scaling: f64) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = String::with_capacity(8 << 10);
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / scaling;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / scaling,
            h.stdev() / scaling,
            h.max() as f64 / scaling,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:>12.digits$}, Total count    = {:>12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        2 * h.distinct_values() / (usize::from(h.buckets()) + 1)
    );
    out
}

#[allow(clippy::disallowed_methods)] // `thread::sleep`: the CLI runs outside the workers.
fn record_log(client: &AdminClient, args: &HistogramArgs, path: &PathBuf) -> anyhow::Result<()> {
    if args.interval < Duration::from_secs(1) {
        bail!("--interval must be 1s or more: the gateway publishes its stats once a second");
    }
    if args.duration < args.interval {
        bail!("--duration must be at least one --interval");
    }
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("creating the log {}", path.display()))?;
    let mut serializer = V2DeflateSerializer::new();
    let start_wall = SystemTime::now();
    let start_s = start_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // The header as HdrHistogram's `HistogramLogWriter` writes it (comment, version, start and
    // base time, then the legend line every reader skips).
    write!(
        file,
        "#[Logged with portico {} histogram: API {} stage {} route {:?}, {} latency in microseconds]\n\
         #[Histogram log format version 1.3]\n\
         #[StartTime: {start_s:.3} (seconds since epoch)]\n\
         #[BaseTime: {start_s:.3} (seconds since epoch)]\n\
         \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
        env!("CARGO_PKG_VERSION"),
        args.api,
        args.stage,
        args.route,
        args.which.as_str()
    )?;
    let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut file, &mut serializer)?;
    let tag = Tag::new(args.which.as_str()).ok_or_else(|| anyhow!("bad tag"))?;
    let start = Instant::now();
    let empty = portico_shared::stats::new_histogram();
    let mut previous = fetch(client, args)?.unwrap_or_else(|| empty.clone());
    let mut interval_start = start.elapsed();
    let mut intervals = 0u32;
    let mut recorded = 0u64;
    while start.elapsed() + args.interval <= args.duration + Duration::from_millis(100) {
        let next = interval_start + args.interval;
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let now = fetch(client, args)?.unwrap_or_else(|| empty.clone());
        let mut delta = now.clone();
        if now.len() < previous.len() || delta.subtract(&previous).is_err() {
            // The route's stats were reset (a reload dropped and re-added it): all of it is new.
            delta = now.clone();
        }
        let end = start.elapsed();
        writer
            .write_histogram(&delta, interval_start, end - interval_start, Some(tag))
            .map_err(|e| anyhow!("writing the interval log: {e}"))?;
        intervals += 1;
        recorded += delta.len();
        previous = now;
        interval_start = end;
    }
    eprintln!(
        "portico histogram: {intervals} intervals, {recorded} requests logged to {}",
        path.display()
    );
    Ok(())
}

/// `1s`, `500ms`, `2m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (say 1s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: the unit must be ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn distribution_text_has_hdrhistograms_shape() {
        let mut h = portico_shared::stats::new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let text = percentile_distribution(&h, 1.0);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(
            lines.next(),
            Some("        1.00 0.000000000000          1           1.00")
        );
        let last_row = text.lines().rfind(|l| !l.starts_with('#')).unwrap();
        let cols: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!(cols.len(), 3, "{last_row}");
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "1000");
        assert!(
            text.contains("#[Mean    =       500.87, StdDeviation   ="),
            "{text}"
        );
        assert!(
            text.contains("#[Max     =      1003.00, Total count    =         1000]"),
            "{text}"
        );
        // The row for p50 holds the histogram's own p50.
        let p50 = text
            .lines()
            .filter_map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                if c.len() != 4 {
                    return None;
                }
                Some((c[0].parse::<f64>().ok()?, c[1].parse::<f64>().ok()?))
            })
            .find(|&(_, q)| q >= 0.5)
            .unwrap();
        assert_eq!(p50.0 as u64, h.value_at_quantile(0.5));
    }
}
