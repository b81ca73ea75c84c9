//! `portico top`: a live terminal view of a running gateway's routes, redrawn each second.
//!
//! Each second it reads the admin side's per-second history (`GET /portico/history?since=`:
//! only the intervals it has not seen) and the cumulative report (`GET /portico/stats`). Rates
//! are averaged over the last [`CLI_TOP_RATE_WINDOW_INTERVALS`] intervals; percentiles are those of the latest
//! second with requests, or since the start (`w` switches). Keys sort the table (the footer says
//! which); `q`, Esc or Ctrl-C quit and restore the terminal, also on an error.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, ClearType};
use crossterm::{cursor, execute, queue};
use portico_shared::limits::{CLI_TOP_RATE_WINDOW_INTERVALS, CLI_TOP_REFRESH_MS};
use portico_shared::stats::{IntervalPoint, Percentiles, RouteReport, StatsReport};

use super::{latency, short, AdminArgs, AdminClient};

/// How often the view is refreshed.
const REFRESH: Duration = Duration::from_millis(CLI_TOP_REFRESH_MS);

#[derive(Debug, clap::Args)]
pub(crate) struct TopArgs {
    #[command(flatten)]
    admin: AdminArgs,
}

type Name = (String, String, String);

/// What the view knows about one route.
#[derive(Debug, Default)]
struct RouteView {
    total: Option<RouteReport>,
    /// The latest intervals: (length in s, the route's point; `None`: no request then).
    recent: VecDeque<(f64, Option<IntervalPoint>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Rate,
    P99,
    GatewayP99,
    IntegrationP99,
    Errors,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    LastSecond,
    SinceStart,
}

#[derive(Debug)]
struct Top {
    routes: HashMap<Name, RouteView>,
    since: u64,
    sort: SortKey,
    window: Window,
    status: String,
}

/// Puts the terminal back however `top` ends.
#[derive(Debug)]
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
        let _ = terminal::disable_raw_mode();
    }
}

pub(crate) fn run(args: &TopArgs) -> anyhow::Result<()> {
    let client = AdminClient::from_env(&args.admin.admin)?;
    // Fail before touching the terminal when the gateway is not there.
    client.get_json("/portico/stats", &[])?;
    let mut top = Top {
        routes: HashMap::new(),
        since: 0,
        sort: SortKey::Rate,
        window: Window::LastSecond,
        status: String::new(),
    };
    terminal::enable_raw_mode()?;
    let _guard = TerminalGuard;
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        cursor::Hide
    )?;
    loop {
        let tick = Instant::now() + REFRESH;
        top.refresh(&client);
        top.draw()?;
        while let Some(left) = tick.checked_duration_since(Instant::now()) {
            if !event::poll(left)? {
                break;
            }
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    let sort = match k.code {
                        _ if ctrl_c => return Ok(()),
                        KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                        KeyCode::Char('r') => Some(SortKey::Rate),
                        KeyCode::Char('p') => Some(SortKey::P99),
                        KeyCode::Char('g') => Some(SortKey::GatewayP99),
                        KeyCode::Char('i') => Some(SortKey::IntegrationP99),
                        KeyCode::Char('e') => Some(SortKey::Errors),
                        KeyCode::Char('n') => Some(SortKey::Name),
                        KeyCode::Char('w') => {
                            top.window = match top.window {
                                Window::LastSecond => Window::SinceStart,
                                Window::SinceStart => Window::LastSecond,
                            };
                            None
                        }
                        _ => None,
                    };
                    if let Some(s) = sort {
                        top.sort = s;
                    }
                    top.draw()?;
                }
                Event::Resize(..) => top.draw()?,
                _ => {}
            }
        }
    }
}

// === impl Top ===

impl Top {
    fn refresh(&mut self, client: &AdminClient) {
        let since = self.since.to_string();
        let history = client.get_json("/portico/history", &[("since", &since)]);
        let stats = client.get_json("/portico/stats", &[]);
        match (history, stats) {
            (Ok(h), Ok(s)) => {
                if let Err(e) = self.absorb(&h, s) {
                    self.status = format!("unexpected answer: {e}");
                } else {
                    self.status.clear();
                }
            }
            (Err(e), _) | (_, Err(e)) => self.status = format!("{e:#}"),
        }
    }

    fn absorb(
        &mut self,
        history: &serde_json::Value,
        stats: serde_json::Value,
    ) -> anyhow::Result<()> {
        let report: StatsReport = serde_json::from_value(stats)?;
        for r in report.routes {
            let name = (r.api_id.clone(), r.stage.clone(), r.route_key.clone());
            self.routes.entry(name).or_default().total = Some(r);
        }
        let intervals = history["intervals"].as_array().cloned().unwrap_or_default();
        for iv in intervals {
            let length_s = iv["lengthMs"].as_f64().unwrap_or(1000.0) / 1e3;
            let points: Vec<IntervalPoint> = serde_json::from_value(iv["routes"].clone())?;
            let mut seen: HashMap<Name, IntervalPoint> = points
                .into_iter()
                .map(|p| ((p.api_id.clone(), p.stage.clone(), p.route_key.clone()), p))
                .collect();
            for (name, view) in self.routes.iter_mut() {
                view.recent.push_back((length_s, seen.remove(name)));
            }
            for (name, p) in seen {
                self.routes
                    .entry(name)
                    .or_default()
                    .recent
                    .push_back((length_s, Some(p)));
            }
            for view in self.routes.values_mut() {
                while view.recent.len() > CLI_TOP_RATE_WINDOW_INTERVALS {
                    view.recent.pop_front();
                }
            }
        }
        self.since = history["latest"].as_u64().unwrap_or(self.since);
        Ok(())
    }

    fn draw(&self) -> std::io::Result<()> {
        let (width, height) = terminal::size().unwrap_or((120, 40));
        let width = usize::from(width);
        let mut out = std::io::stdout().lock();
        queue!(out, cursor::MoveTo(0, 0), terminal::Clear(ClearType::All))?;
        let window = match self.window {
            Window::LastSecond => "last second",
            Window::SinceStart => "since start",
        };
        let total_rate: f64 = self.routes.values().map(|v| rate(v, |p| p.count)).sum();
        let line = |out: &mut std::io::StdoutLock<'_>, row: u16, text: &str| {
            let clipped: String = text.chars().take(width).collect();
            queue!(out, cursor::MoveTo(0, row), Print(clipped))
        };
        line(
            &mut out,
            0,
            &format!(
                "portico top · {} routes · {:.1} req/s · latency µs ({window}); GW: the gateway's own share, INT: the integration's",
                self.routes.len(),
                total_rate
            ),
        )?;
        queue!(out, SetAttribute(Attribute::Reverse))?;
        line(&mut out, 2, &format!("{:width$}", header(), width = width))?;
        queue!(out, SetAttribute(Attribute::Reset))?;
        let mut rows: Vec<(&Name, &RouteView)> = self.routes.iter().collect();
        rows.sort_by(|a, b| self.order(a, b));
        let room = usize::from(height).saturating_sub(5);
        for (i, (name, view)) in rows.iter().take(room).enumerate() {
            let row = u16::try_from(i + 3).unwrap_or(u16::MAX);
            line(&mut out, row, &self.format_row(name, view))?;
        }
        let footer = format!(
            "sort: [r] req/s{}  [p] p99{}  [g] GW p99{}  [i] INT p99{}  [e] 5xx{}  [n] name{}  ·  [w] window: {window}  ·  [q] quit  {}",
            mark(self.sort == SortKey::Rate),
            mark(self.sort == SortKey::P99),
            mark(self.sort == SortKey::GatewayP99),
            mark(self.sort == SortKey::IntegrationP99),
            mark(self.sort == SortKey::Errors),
            mark(self.sort == SortKey::Name),
            self.status,
        );
        line(&mut out, height.saturating_sub(1), &footer)?;
        out.flush()
    }

    fn percentiles<'a>(
        &self,
        v: &'a RouteView,
    ) -> Option<(&'a Percentiles, &'a Percentiles, &'a Percentiles)> {
        match self.window {
            Window::LastSecond => v.recent.iter().rev().find_map(|(_, p)| {
                p.as_ref().map(|p| {
                    (
                        &p.latency_us,
                        &p.gateway_latency_us,
                        &p.integration_latency_us,
                    )
                })
            }),
            Window::SinceStart => v.total.as_ref().map(|t| {
                (
                    &t.latency_us,
                    &t.gateway_latency_us,
                    &t.integration_latency_us,
                )
            }),
        }
    }

    fn format_row(&self, name: &Name, v: &RouteView) -> String {
        let (c2, c4, c5) = v
            .total
            .as_ref()
            .map_or((0, 0, 0), |t| (t.status_2xx, t.status_4xx, t.status_5xx));
        let mut s = format!(
            "{:<14} {:<10} {:<24} {:>8.1} {:>7} {:>7} {:>7}",
            clip(&name.0, 14),
            clip(&name.1, 10),
            clip(&name.2, 24),
            rate(v, |p| p.count),
            short(c2),
            short(c4),
            short(c5),
        );
        match self.percentiles(v) {
            Some((t, g, i)) => s.push_str(&format!(
                " {:>7} {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7}  {:>7} {:>7}",
                latency(t.p50),
                latency(t.p90),
                latency(t.p99),
                latency(t.p999),
                latency(t.max),
                latency(g.p50),
                latency(g.p99),
                latency(i.p50),
                latency(i.p99),
            )),
            None => s.push_str(&format!(" {:>7}", "-")),
        }
        s
    }

    fn order(&self, a: &(&Name, &RouteView), b: &(&Name, &RouteView)) -> std::cmp::Ordering {
        let p99 = |v: &RouteView, f: fn(&(&Percentiles, &Percentiles, &Percentiles)) -> u64| {
            self.percentiles(v).map_or(0, |t| f(&t))
        };
        let key = |v: &RouteView| -> f64 {
            match self.sort {
                SortKey::Rate => rate(v, |p| p.count),
                SortKey::P99 => p99(v, |t| t.0.p99) as f64,
                SortKey::GatewayP99 => p99(v, |t| t.1.p99) as f64,
                SortKey::IntegrationP99 => p99(v, |t| t.2.p99) as f64,
                SortKey::Errors => v.total.as_ref().map_or(0, |t| t.status_5xx) as f64,
                SortKey::Name => 0.0,
            }
        };
        key(b.1).total_cmp(&key(a.1)).then_with(|| a.0.cmp(b.0))
    }
}

fn header() -> String {
    format!(
        "{:<14} {:<10} {:<24} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7}  {:>7} {:>7}",
        "API", "STAGE", "ROUTE", "REQ/S", "2XX", "4XX", "5XX", "P50", "P90", "P99", "P99.9", "MAX",
        "GW P50", "GW P99", "INT P50", "INT P99"
    )
}

/// Requests per second over the recent intervals.
fn rate(v: &RouteView, f: fn(&IntervalPoint) -> u64) -> f64 {
    let seconds: f64 = v.recent.iter().map(|(s, _)| s).sum();
    if seconds <= 0.0 {
        return 0.0;
    }
    let n: u64 = v.recent.iter().filter_map(|(_, p)| p.as_ref().map(f)).sum();
    n as f64 / seconds
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

fn mark(on: bool) -> &'static str {
    if on {
        "*"
    } else {
        ""
    }
}
