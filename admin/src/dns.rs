//! The resolver: keeps every upstream host name the live configuration names resolved, off the
//! request path.
//!
//! # Architecture
//! 1. [`start`] spawns the `portico-dns` thread (its own current-thread tokio runtime, so a
//!    compilation on the admin runtime can wait for a first lookup without deadlocking) and
//!    installs itself as the [`portico_shared::dns::registry`]'s lookup: a compilation naming
//!    a new host waits for its first answer (at most `DNS_COMPILE_WAIT_MS`).
//! 2. Every `DNS_TICK_MS` the thread walks the registry's live slots; a slot is due when its
//!    record's TTL (clamped to `DNS_TTL_FLOOR_MS`..`DNS_TTL_CEILING_MS`) ran out, or
//!    `DNS_RETRY_MS` after a failed lookup. Lookups run concurrently, each bounded by the
//!    resolver's own timeout.
//! 3. An answer is published into the slot ([`HostSlot::publish`]); workers read it with one
//!    atomic load. A failed lookup keeps the last address (a name that stops resolving keeps
//!    being served where it was); a name never resolved answers 500 until it does.
//!
//! Names are looked up with hickory's stub resolver: `/etc/resolv.conf` and `/etc/hosts`, or
//! the one server given by `--dns-server`. It gives each answer's TTL, which `getaddrinfo`
//! does not; when the system configuration cannot be read, `getaddrinfo` is the fallback
//! (`DNS_TTL_UNKNOWN_MS` between lookups).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use portico_shared::dns::{HostSlot, Lookup};
use portico_shared::limits::DNS_QUERY_TIMEOUT_MS;
use portico_shared::limits::{
    DNS_COMPILE_WAIT_MS, DNS_RETRY_MS, DNS_TICK_MS, DNS_TTL_CEILING_MS, DNS_TTL_FLOOR_MS,
    DNS_TTL_UNKNOWN_MS,
};
use tokio::sync::mpsc;

/// How names are looked up.
#[derive(Clone)]
enum Backend {
    Hickory(Box<TokioResolver>),
    /// `getaddrinfo` on tokio's blocking pool: no TTL.
    System,
}

/// A compilation's request for a new name's first lookup.
struct Request {
    host: Box<str>,
    reply: std::sync::mpsc::SyncSender<Result<Vec<IpAddr>, String>>,
}

/// The registry's lookup: hands the name to the resolver thread and waits for its answer.
struct Channel(mpsc::UnboundedSender<Request>);

impl Lookup for Channel {
    fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.0
            .send(Request {
                host: host.into(),
                reply,
            })
            .map_err(|_| "the resolver stopped".to_owned())?;
        answer
            .recv_timeout(Duration::from_millis(DNS_COMPILE_WAIT_MS))
            .map_err(|_| format!("'{host}' did not resolve within {DNS_COMPILE_WAIT_MS} ms"))?
    }
}

/// Starts the resolver thread and makes it the lookup of every compilation from now on.
/// `server`: the one DNS server to ask (`--dns-server`), else the system's configuration.
pub fn start(server: Option<SocketAddr>) -> std::io::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Built inside the runtime: the resolver spawns its connections' tasks on it.
    crate::runtime::spawn_thread("portico-dns", "resolver", move || async move {
        let backend = backend(server).unwrap_or_else(|e| {
            tracing::error!(error = %e, "DNS resolver failed to start; using getaddrinfo");
            Backend::System
        });
        refresh_loop(backend, rx).await;
    })?;
    portico_shared::dns::registry().set_lookup(Arc::new(Channel(tx)));
    Ok(())
}

fn backend(server: Option<SocketAddr>) -> std::io::Result<Backend> {
    let mut builder = match server {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => match TokioResolver::builder_tokio() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no DNS configuration; using getaddrinfo (TTLs unknown)");
                return Ok(Backend::System);
            }
        },
    };
    let opts = builder.options_mut();
    opts.timeout = Duration::from_millis(DNS_QUERY_TIMEOUT_MS);
    opts.attempts = 2;
    // Each name is looked up when its TTL runs out: a cache would only answer that lookup
    // with what just expired, or keep a negative answer past the retry.
    opts.cache_size = 0;
    builder
        .build()
        .map(|r| Backend::Hickory(Box::new(r)))
        .map_err(|e| std::io::Error::other(format!("DNS resolver: {e}")))
}

/// Looks `host` up: its addresses and how long they hold (the record's TTL, unclamped).
async fn lookup(backend: &Backend, host: &str) -> Result<(Vec<IpAddr>, Duration), String> {
    match backend {
        Backend::Hickory(r) => {
            let answer = r.lookup_ip(host).await.map_err(|e| e.to_string())?;
            let ips: Vec<IpAddr> = answer.iter().collect();
            if ips.is_empty() {
                return Err("no address".into());
            }
            let ttl = answer
                .valid_until()
                .saturating_duration_since(Instant::now());
            Ok((ips, ttl))
        }
        Backend::System => {
            let addrs = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| e.to_string())?;
            let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            if ips.is_empty() {
                return Err("no address".into());
            }
            Ok((ips, Duration::from_millis(DNS_TTL_UNKNOWN_MS)))
        }
    }
}

/// When a slot is next due, and whether its last lookup failed (logged once per failure run).
struct Due {
    slot: Weak<HostSlot>,
    at: Instant,
    failing: bool,
}

/// Answers compilations' first lookups and keeps every live slot fresh, forever.
async fn refresh_loop(backend: Backend, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut due: HashMap<usize, Due> = HashMap::new();
    let (done_tx, mut done) = mpsc::unbounded_channel::<(usize, Instant, bool)>();
    let mut tick = tokio::time::interval(Duration::from_millis(DNS_TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(req) = requests.recv() => {
                let backend = backend.clone();
                tokio::spawn(async move {
                    let answer = lookup(&backend, &req.host).await.map(|(ips, _)| ips);
                    let _ = req.reply.send(answer);
                });
            }
            Some((key, at, failed)) = done.recv() => {
                if let Some(d) = due.get_mut(&key) {
                    d.at = at;
                    d.failing = failed;
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let live = portico_shared::dns::registry().live();
                due.retain(|_, d| d.slot.strong_count() > 0);
                for slot in live.into_iter().filter(|s| !s.fixed) {
                    let key = Arc::as_ptr(&slot) as usize;
                    let d = due.entry(key).or_insert_with(|| Due {
                        slot: Arc::downgrade(&slot),
                        at: now,
                        failing: false,
                    });
                    if d.at > now {
                        continue;
                    }
                    // Not due again until this lookup reports (or its bound passes).
                    d.at = now + Duration::from_millis(DNS_TTL_CEILING_MS);
                    let was_failing = d.failing;
                    let (backend, done) = (backend.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let (next, failed) = match lookup(&backend, &slot.host).await {
                            Ok((ips, ttl)) => {
                                let before = slot.addr();
                                if slot.publish(&ips) {
                                    tracing::info!(host = %slot.host, from = ?before,
                                        to = ?slot.addr(), "upstream address changed");
                                }
                                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                                (ms.clamp(DNS_TTL_FLOOR_MS, DNS_TTL_CEILING_MS), false)
                            }
                            Err(e) => {
                                if !was_failing {
                                    tracing::warn!(host = %slot.host, error = %e,
                                        kept = ?slot.addr(), "upstream host did not resolve; retrying");
                                }
                                (DNS_RETRY_MS, true)
                            }
                        };
                        let at = Instant::now() + Duration::from_millis(next);
                        let _ = done.send((key, at, failed));
                    });
                }
            }
        }
    }
}
