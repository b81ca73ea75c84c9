//! One monoio runtime per core, each pinned to its core with its own `SO_REUSEPORT` listener.
//!
//! # Architecture
//! 1. [`spawn_workers`] starts N threads; each builds a runtime (io_uring, or the epoll
//!    ("legacy") fallback where io_uring is unavailable), reports which, and runs [`run`].
//! 2. [`run`] accepts connections and spawns [`crate::conn::serve`] for each, publishes stats
//!    every second, and watches the process-wide stop flag.
//! 3. On stop: accepting ends, in-flight requests get up to the drain timeout, then the runtime
//!    is dropped, which closes every remaining (idle) connection.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use monoio::net::TcpListener;

use portico_shared::limits::{IO_URING_ENTRIES, STATS_PUBLISH_INTERVAL_MS};
use portico_shared::stats::StatsBoard;
use portico_shared::Snapshot;

use crate::config::DataPlaneConfig;
use crate::observe::LocalStats;
use crate::request_id::RequestIds;
use crate::shutdown::Shutdown;
use crate::snapshots::Snapshots;
use crate::stages::admit::AdmitState;
use crate::upstream::{Calls, Pool};
use crate::worker::Worker;

/// Which I/O driver a worker runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Legacy,
}

/// Which driver to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverChoice {
    /// io_uring where the kernel allows it, else epoll.
    #[default]
    Auto,
    IoUring,
    Legacy,
}

/// The running workers.
#[derive(Debug)]
pub struct WorkerSet {
    handles: Vec<std::thread::JoinHandle<()>>,
    pub driver: Driver,
}

/// Starts one worker per listener. Returns once every worker runs (or one failed to start).
/// `tls_listeners` is empty, or has one TLS listener per worker.
pub fn spawn_workers(
    listeners: Vec<std::net::TcpListener>,
    tls_listeners: Vec<std::net::TcpListener>,
    cell: Arc<ArcSwap<Snapshot>>,
    board: Arc<StatsBoard>,
    cfg: Arc<DataPlaneConfig>,
    stop: Arc<AtomicBool>,
    driver: DriverChoice,
) -> std::io::Result<WorkerSet> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<Driver>>();
    let mut handles = Vec::new();
    let count = listeners.len();
    let (peers, inboxes) = crate::ws::channels(count)?;
    let mut tls_listeners = tls_listeners.into_iter();
    for ((id, listener), inbox) in listeners.into_iter().enumerate().zip(inboxes) {
        let peers = peers.clone();
        let tls_listener = tls_listeners.next();
        let (cell, board, cfg, stop, ready) = (
            cell.clone(),
            board.clone(),
            cfg.clone(),
            stop.clone(),
            ready_tx.clone(),
        );
        let handle = std::thread::Builder::new()
            .name(format!("portico-worker-{id}"))
            .spawn(move || {
                if let Err(e) = monoio::utils::bind_to_cpu_set([id % cores]) {
                    tracing::warn!(worker = id, error = %e, "could not pin worker to its core");
                }
                let local_port = listener.local_addr().map_or(0, |a| a.port());
                let tls_port = tls_listener
                    .as_ref()
                    .and_then(|l| l.local_addr().ok())
                    .map_or(0, |a| a.port());
                let pool = Pool::new(Arc::clone(&cfg.upstream_tls));
                let node = cfg.cluster.as_ref().map_or(0, |c| c.node);
                let admit = AdmitState {
                    worker: id,
                    account: Arc::clone(&cfg.account),
                };
                let worker = Rc::new(Worker {
                    id,
                    cfg,
                    local_port,
                    tls_port,
                    snapshots: Snapshots::new(cell.clone()),
                    ids: RequestIds::new(RequestIds::random_seed(id)),
                    pool,
                    admit,
                    responses: Default::default(),
                    authorizers: Default::default(),
                    tokens: Default::default(),
                    stats: RefCell::new(LocalStats::default()),
                    in_flight: Cell::new(0),
                    rng: Cell::new(RequestIds::random_seed(id) | 1),
                    shutdown: Shutdown::default(),
                    ws: crate::ws::Registry::new(id, node, peers, RequestIds::random_seed(id)),
                    calls: Calls::default(),
                    bufs: crate::buffers::Buffers::default(),
                    spans: crate::buffers::Buffers::default(),
                    boxes: crate::sys::Boxes::default(),
                });
                let started = build_and_run(driver, &ready, || {
                    run(
                        worker.clone(),
                        listener,
                        tls_listener,
                        board.clone(),
                        stop.clone(),
                        inbox,
                    )
                });
                if let Err(e) = started {
                    let _ = ready.send(Err(e));
                }
            })?;
        handles.push(handle);
    }
    drop(ready_tx);
    let mut driver_seen = Driver::IoUring;
    for _ in 0..count {
        match ready_rx.recv() {
            Ok(Ok(d)) => driver_seen = d,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("a worker exited during start-up")),
        }
    }
    Ok(WorkerSet {
        handles,
        driver: driver_seen,
    })
}

fn build_and_run<F, Fut>(
    choice: DriverChoice,
    ready: &mpsc::Sender<std::io::Result<Driver>>,
    run: F,
) -> std::io::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let use_uring = match choice {
        DriverChoice::Legacy => false,
        DriverChoice::IoUring => true,
        DriverChoice::Auto => monoio::utils::detect_uring(),
    };
    if use_uring {
        // COOP_TASKRUN: completions are delivered when this thread next enters the kernel instead
        // of by interrupting it (one issuer per ring, so nothing waits for that). Kernels
        // without it (before 5.19) get a plain ring.
        let tuned = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .with_entries(IO_URING_ENTRIES)
            .uring_builder({
                let mut b = io_uring::IoUring::builder();
                b.setup_coop_taskrun()
                    .setup_single_issuer()
                    .setup_defer_taskrun();
                b
            })
            .build();
        let plain = || {
            monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .enable_timer()
                .with_entries(IO_URING_ENTRIES)
                .build()
        };
        match tuned.or_else(|_| plain()) {
            Ok(mut rt) => {
                let _ = ready.send(Ok(Driver::IoUring));
                crate::sys::set_uring(true);
                return rt.block_on(run());
            }
            // A ring can still fail to build where io_uring exists (locked-memory limits, a
            // seccomp filter): with `auto`, fall back to epoll rather than not start.
            Err(e) if choice == DriverChoice::Auto => {
                tracing::warn!(error = %e, "io_uring ring could not be set up: using epoll");
            }
            Err(e) => return Err(e),
        }
    }
    {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()?;
        let _ = ready.send(Ok(Driver::Legacy));
        crate::sys::set_uring(false);
        rt.block_on(run())
    }
}

/// A worker's main loop.
async fn run(
    w: Rc<Worker>,
    listener: std::net::TcpListener,
    tls_listener: Option<std::net::TcpListener>,
    board: Arc<StatsBoard>,
    stop: Arc<AtomicBool>,
    inbox: crate::ws::Inbox,
) -> std::io::Result<()> {
    crate::deadline::spawn_driver();
    let listener = TcpListener::from_std(listener)?;
    if let Some(l) = tls_listener {
        monoio::spawn(accept_tls(w.clone(), TcpListener::from_std(l)?));
    }
    monoio::spawn(watch_stop(w.clone(), stop));
    monoio::spawn(crate::ws::serve_inbox(w.clone(), inbox));
    monoio::spawn(publish_stats(w.clone(), board.clone()));
    if crate::log_writer::started() {
        monoio::spawn(flush_logs());
    }
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => Some(r),
            _ = w.shutdown.fired() => None,
        };
        match accepted {
            None => break,
            Some(Ok((stream, peer))) => {
                let _ = stream.set_nodelay(true);
                w.stats.borrow_mut().counters.connections_accepted += 1;
                monoio::spawn(crate::conn::serve(w.clone(), stream, peer, None));
            }
            Some(Err(e)) => {
                // Out of descriptors or a transient accept error: back off briefly.
                tracing::warn!(worker = w.id, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    let deadline = Instant::now() + w.cfg.drain_timeout;
    while w.in_flight.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    if w.in_flight.get() > 0 {
        tracing::warn!(
            worker = w.id,
            in_flight = w.in_flight.get(),
            "drain timeout: abandoning requests"
        );
    }
    w.stats.borrow_mut().publish(w.id, &board);
    crate::log_writer::flush();
    Ok(())
}

/// Hands this worker's partly filled log chunks to the writer every `FLUSH_EVERY`, so that a
/// line waits at most that long when traffic stops (a full chunk goes at once).
async fn flush_logs() {
    loop {
        monoio::time::sleep(crate::log_writer::FLUSH_EVERY).await;
        crate::log_writer::flush();
    }
}

/// The TLS listener's accept loop: each connection's handshake runs in its own task on this
/// core, then the connection is served like a plain one.
async fn accept_tls(w: Rc<Worker>, listener: TcpListener) {
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => Some(r),
            _ = w.shutdown.fired() => None,
        };
        match accepted {
            None => return,
            Some(Ok((stream, peer))) => {
                let _ = stream.set_nodelay(true);
                w.stats.borrow_mut().counters.connections_accepted += 1;
                let w = w.clone();
                monoio::spawn(async move {
                    if let Some((tls, session)) = crate::tls::accept(
                        &w.snapshots,
                        &w.bufs,
                        w.cfg.limits.header_read_timeout,
                        stream,
                    )
                    .await
                    {
                        crate::conn::serve(w, tls, peer, Some(session)).await;
                    }
                });
            }
            Some(Err(e)) => {
                tracing::warn!(worker = w.id, error = %e, "TLS accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Turns the process-wide stop flag (set by the signal thread) into this worker's local signal.
async fn watch_stop(w: Rc<Worker>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        monoio::time::sleep(Duration::from_millis(50)).await;
    }
    w.shutdown.fire();
}

/// Once-a-second housekeeping: publish stats; refresh the second request ids carry; after a snapshot swap, let go of the old snapshot
/// and forget the stats of routes that vanished; close upstream connections idle too long;
/// return what is left of an expired account-bucket lease, so an idle worker does not sit on
/// tokens the busy ones could use (route buckets get theirs back on the worker's next request);
/// drop the response cache shards of stages whose cache was flushed or turned off, and the
/// Lambda authorizer decisions that expired or whose stage's authorizer cache was flushed.
async fn publish_stats(w: Rc<Worker>, board: Arc<StatsBoard>) {
    let mut generation = w.snapshot().generation;
    let mut live_caches = live_cache_ids(&w.snapshot());
    let mut live_authorizers = live_authorizer_ids(&w.snapshot());
    // Decision cache ids the last snapshot swap retired (only those: ids this loop never saw
    // served stay untouched).
    let mut dead_authorizers = std::collections::HashSet::new();
    loop {
        monoio::time::sleep(Duration::from_millis(STATS_PUBLISH_INTERVAL_MS)).await;
        let snapshot = w.snapshot();
        if snapshot.generation != generation {
            generation = snapshot.generation;
            let live: std::collections::HashSet<u64> = snapshot
                .apis()
                .flat_map(|a| a.stages())
                .flat_map(|s| {
                    let canary = s.canary.iter().flat_map(|c| c.stage.routes.iter());
                    let ws = s.websocket.iter().flat_map(|ws| ws.routes.iter());
                    s.routes
                        .iter()
                        .chain(canary)
                        .map(|r| r.stats_key)
                        .chain(ws.map(|r| r.stats_key))
                })
                .collect();
            w.stats.borrow_mut().retain(|k| live.contains(&k));
            live_caches = live_cache_ids(&snapshot);
            let live = live_authorizer_ids(&snapshot);
            dead_authorizers = live_authorizers.difference(&live).copied().collect();
            live_authorizers = live;
        }
        drop(snapshot);
        w.authorizers.housekeep(&dead_authorizers, Instant::now());
        let (bytes, entries) = w.responses.housekeep(&live_caches);
        {
            let mut stats = w.stats.borrow_mut();
            if (stats.counters.cache_bytes, stats.counters.cache_entries) != (bytes, entries) {
                stats.counters.cache_bytes = bytes;
                stats.counters.cache_entries = entries;
                stats.mark();
            }
        }
        w.stats.borrow_mut().publish(w.id, &board);
        w.ids.tick();
        w.pool.prune();
        w.cfg
            .account
            .expire_lease(w.id, w.cfg.mono_ns(Instant::now()));
    }
}

/// The stage cache ids a snapshot serves.
fn live_cache_ids(snapshot: &Snapshot) -> std::collections::HashSet<u64> {
    snapshot
        .apis()
        .flat_map(|a| a.stages())
        .filter_map(|s| s.cache.map(|c| c.id))
        .collect()
}

/// The Lambda authorizer decision cache ids a snapshot serves.
fn live_authorizer_ids(snapshot: &Snapshot) -> std::collections::HashSet<u64> {
    snapshot
        .apis()
        .flat_map(|a| a.stages())
        .flat_map(|s| {
            let canary = s.canary.iter().flat_map(|c| c.stage.routes.iter());
            s.routes.iter().chain(canary)
        })
        .filter_map(|r| r.lambda_auth.as_ref().map(|a| a.cache_id))
        .collect()
}

// === impl WorkerSet ===

impl WorkerSet {
    /// Waits for every worker to finish draining.
    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// Binds `n` listeners on `addr` with `SO_REUSEPORT` (port 0 resolves once, then all share it).
pub fn bind_listeners(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(n);
    let mut addr = addr;
    for _ in 0..n {
        let domain = if addr.is_ipv6() {
            socket2::Domain::IPV6
        } else {
            socket2::Domain::IPV4
        };
        let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
        s.set_reuse_port(true)?;
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(4096)?;
        let l: std::net::TcpListener = s.into();
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}
