//! `portico`: boot. Arguments → snapshot cell → data plane listeners → admin store loaded and
//! published (plus `--config`, imported) → admin thread → N pinned workers → wait for a signal →
//! drain → exit 0.
//!
//! Architecture invariant: this is the only file that names `portico_admin`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::{Parser, Subcommand, ValueEnum};

use portico_dataplane::config::{DataPlaneConfig, Limits};
use portico_dataplane::runtime::{bind_listeners, spawn_workers, Driver, DriverChoice};
use portico_shared::limits;
use portico_shared::limits::AUTHORIZER_TIMEOUT_MS;
use portico_shared::model::Config;
use portico_shared::stats::StatsBoard;
use portico_shared::throttle::{Bucket, Limits as ThrottleLimits};
use portico_shared::Snapshot;

mod cli;

/// Portico: a self-hosted API gateway with Amazon API Gateway's model.
#[derive(Debug, Parser)]
#[command(name = "portico", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: data plane workers plus the admin API, in one process.
    Serve(Box<Serve>),
    #[command(flatten)]
    Profile(cli::ProfileCommand),
}

#[derive(Debug, clap::Args)]
struct Serve {
    /// Data plane listener (downstream HTTP/1.1).
    #[arg(long, env = "PORTICO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data plane TLS listener (HTTPS for custom domain names: the SNI name selects the domain
    /// and its certificate). Off unless given.
    #[arg(long, env = "PORTICO_TLS_LISTEN")]
    tls_listen: Option<SocketAddr>,
    /// Admin API listener.
    #[arg(long, env = "PORTICO_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    admin_listen: SocketAddr,
    /// Configuration file (JSON: {"apis": [...]}, apigatewayv2 field names), imported into the
    /// store at start: each API in it replaces the stored API with the same apiId, and every
    /// stage it names serves its routes. Without it the gateway serves what the store holds.
    #[arg(long, env = "PORTICO_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the durable store (SQLite, WAL mode): every API, route, integration, stage
    /// and deployment created through the admin API. Created if missing.
    #[arg(long, env = "PORTICO_DATA_DIR", default_value = "./portico-data")]
    data_dir: PathBuf,
    /// The store: `sqlite` (the default: one node, in --data-dir) or a PostgreSQL URL
    /// (`postgres://user@host:port/db`) shared by every node of a cluster; --data-dir then
    /// holds only this node's own files (unpacked function code).
    #[arg(long, env = "PORTICO_STORE", default_value = "sqlite")]
    store: String,
    /// Redis for limits shared by the nodes of a cluster (`redis://host:port`): throttle
    /// buckets lease tokens from it and usage plan quotas are counted through it. Without it
    /// every limit is this node's own.
    #[arg(long, env = "PORTICO_REDIS")]
    redis: Option<String>,
    /// Data plane workers, one per core, each pinned. Default: the machine's cores.
    #[arg(long, env = "PORTICO_WORKERS")]
    workers: Option<usize>,
    /// API host names are {apiId}.{domain}.
    #[arg(long, env = "PORTICO_DOMAIN", default_value = "execute-api.localhost")]
    domain: String,
    /// The default region: of admin requests that are not signed, and of resources stored
    /// before regions were kept. Default: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else
    /// `PORTICO_REGION`, else us-east-1. A signed request's region is its credential scope's.
    #[arg(long)]
    region: Option<String>,
    /// I/O driver: io_uring where available (auto), or force one.
    #[arg(long, env = "PORTICO_DRIVER", value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,
    /// Largest request head (request line and headers), bytes; past it: 431.
    #[arg(long, env = "PORTICO_MAX_HEADER_BYTES", default_value_t = limits::HEADER_MAX_BYTES)]
    max_header_bytes: usize,
    /// Most request headers; past it: 431.
    #[arg(long, env = "PORTICO_MAX_HEADER_COUNT", default_value_t = limits::HEADER_COUNT_MAX)]
    max_header_count: usize,
    /// Largest request body, bytes; past it: 413.
    #[arg(long, env = "PORTICO_MAX_BODY_BYTES", default_value_t = limits::BODY_MAX_BYTES)]
    max_body_bytes: usize,
    /// Time a client has to send a request head, ms (slowloris guard).
    #[arg(long, env = "PORTICO_HEADER_READ_TIMEOUT_MS", default_value_t = limits::HEADER_READ_TIMEOUT_MS)]
    header_read_timeout_ms: u64,
    /// Time a client has to send a request body, ms.
    #[arg(long, env = "PORTICO_BODY_READ_TIMEOUT_MS", default_value_t = limits::BODY_READ_TIMEOUT_MS)]
    body_read_timeout_ms: u64,
    /// Idle keep-alive connections are closed after this, ms.
    #[arg(long, env = "PORTICO_IDLE_TIMEOUT_MS", default_value_t = limits::IDLE_TIMEOUT_MS)]
    idle_timeout_ms: u64,
    /// A client that does not take a response within this is disconnected, ms.
    #[arg(long, env = "PORTICO_WRITE_TIMEOUT_MS", default_value_t = limits::WRITE_TIMEOUT_MS)]
    write_timeout_ms: u64,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish, ms.
    #[arg(long, env = "PORTICO_DRAIN_TIMEOUT_MS", default_value_t = limits::DRAIN_TIMEOUT_MS)]
    drain_timeout_ms: u64,
    /// Account-level throttle: requests per second admitted across every API and worker. Off
    /// unless this or --account-burst-limit is given (the other then takes AWS's default,
    /// 10,000 rps or a burst of 5,000).
    #[arg(long, env = "PORTICO_ACCOUNT_RATE_LIMIT")]
    account_rate_limit: Option<f64>,
    /// Account-level throttle: burst (bucket capacity). Off unless this or
    /// --account-rate-limit is given.
    #[arg(long, env = "PORTICO_ACCOUNT_BURST_LIMIT")]
    account_burst_limit: Option<u64>,
    /// Shifts the wall clock used for quota periods and usage days (tests only).
    #[arg(
        long,
        env = "PORTICO_CLOCK_OFFSET_SECS",
        default_value_t = 0,
        hide = true
    )]
    clock_offset_secs: i64,
    /// Replaces every REST stage cache's byte bound (`cacheClusterSize`, 0.5 GB at least), so
    /// a test can fill a cache (tests only).
    /// WebSocket APIs: a connection with no message either way for this long is closed.
    #[arg(long, env = "PORTICO_WS_IDLE_TIMEOUT_MS", default_value_t = limits::WS_IDLE_TIMEOUT_MS)]
    ws_idle_timeout_ms: u64,

    /// WebSocket APIs: a connection is closed this long after it opened.
    #[arg(long, env = "PORTICO_WS_MAX_DURATION_MS", default_value_t = limits::WS_MAX_DURATION_MS)]
    ws_max_duration_ms: u64,

    /// WebSocket APIs: largest frame a client may send (close 1009 past it).
    #[arg(long, env = "PORTICO_WS_FRAME_MAX_BYTES", default_value_t = limits::WS_FRAME_MAX_BYTES)]
    ws_frame_max_bytes: usize,

    /// WebSocket APIs: largest message a client may send (close 1009 past it).
    #[arg(long, env = "PORTICO_WS_MESSAGE_MAX_BYTES", default_value_t = limits::WS_MESSAGE_MAX_BYTES)]
    ws_message_max_bytes: usize,

    /// How long a Lambda authorizer function may take before the request fails with 500
    /// (AWS: 10 s).
    #[arg(long, env = "PORTICO_AUTHORIZER_TIMEOUT_MS", default_value_t = u64::from(AUTHORIZER_TIMEOUT_MS))]
    authorizer_timeout_ms: u64,

    #[arg(long, env = "PORTICO_CACHE_CAPACITY_BYTES_OVERRIDE", hide = true)]
    cache_capacity_bytes_override: Option<u64>,
    /// PEM bundle of extra CA certificates trusted for `https://` upstreams (private CAs),
    /// besides the built-in public roots.
    #[arg(long, env = "PORTICO_UPSTREAM_CA_FILE")]
    upstream_ca_file: Option<PathBuf>,
    /// DNS server (`ip:port`, UDP then TCP) for upstream host names, instead of the system's
    /// /etc/resolv.conf. Names are resolved in the background and looked up again when their
    /// record's TTL runs out (at least 1 s, at most 300 s apart); a name that does not resolve
    /// deploys, and its requests answer 500 until it does.
    #[arg(long, env = "PORTICO_DNS_SERVER")]
    dns_server: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DriverArg {
    Auto,
    IoUring,
    Legacy,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTICO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // A gateway holds a descriptor per connection: take the hard limit, not the soft default.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(nofile = n, "descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the descriptor limit"),
    }
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Profile(command) => cli::run(command),
    }
}

fn serve(args: Serve) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=limits::HEADER_COUNT_CEILING).contains(&args.max_header_count),
        "--max-header-count must be 1 to {}",
        limits::HEADER_COUNT_CEILING
    );
    anyhow::ensure!(
        args.max_header_bytes >= 256,
        "--max-header-bytes must be at least 256"
    );
    anyhow::ensure!(
        args.account_rate_limit
            .is_none_or(|r| r.is_finite() && r >= 0.0),
        "--account-rate-limit must be a number of requests per second, 0 or more"
    );
    portico_shared::clock::set_offset_secs(args.clock_offset_secs);
    let config: Option<Config> = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?,
            )
        }
        None => None,
    };
    let cell = Arc::new(ArcSwap::from_pointee(Snapshot::empty(0)));
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let board = Arc::new(StatsBoard::new(workers));
    let listeners = bind_listeners(args.listen, workers)
        .with_context(|| format!("binding the data plane listener {}", args.listen))?;
    let listen_addr = listeners[0].local_addr()?;
    let tls_listeners = match args.tls_listen {
        Some(addr) => bind_listeners(addr, workers)
            .with_context(|| format!("binding the TLS listener {addr}"))?,
        None => Vec::new(),
    };
    let tls_addr = match tls_listeners.first() {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };

    let credentials =
        portico_admin::sigv4::AdminCredentials::from_env().map_err(anyhow::Error::msg)?;
    portico_admin::sigv4::check_bind(args.admin_listen, credentials.as_ref())
        .map_err(anyhow::Error::msg)?;
    let ws_signed = credentials.is_some();
    let mut cluster_store = None;
    let store: Arc<dyn portico_admin::Store> = if args.store == "sqlite" {
        Arc::new(
            portico_admin::SqliteStore::open(&args.data_dir).with_context(|| {
                format!(
                    "opening the store in {} (is another portico using this --data-dir?)",
                    args.data_dir.display()
                )
            })?,
        )
    } else if args.store.starts_with("postgres://") || args.store.starts_with("postgresql://") {
        let pg = Arc::new(
            portico_admin::store::PostgresStore::open(&args.store, &args.data_dir)
                .context("opening the PostgreSQL store (--store)")?,
        );
        cluster_store = Some(Arc::clone(&pg));
        pg
    } else {
        anyhow::bail!("--store must be sqlite or a postgres:// URL");
    };
    // Bound before the store is loaded: Lambda integrations naming a self-hosted function are
    // compiled to invoke it on this listener.
    let admin_listener = portico_admin::bind(args.admin_listen)
        .with_context(|| format!("binding the admin listener {}", args.admin_listen))?;
    let endpoint = portico_admin::Endpoint {
        domain: args.domain.to_ascii_lowercase(),
        port: listen_addr.port(),
        tls_port: tls_addr.map(|a| a.port()),
        data_dir: args.data_dir.clone(),
        admin_addr: admin_listener.local_addr().ok(),
        account_throttle: account_throttle(&args),
        region: args
            .region
            .clone()
            .unwrap_or_else(portico_shared::aws::default_region),
    };
    // Installed before anything is compiled: every bucket made from now on is shared.
    let shared_limits = match &args.redis {
        Some(url) => Some(portico_admin::limits::start(url).map_err(anyhow::Error::msg)?),
        None => None,
    };
    // Before the store opens: its compilations resolve new host names through it.
    portico_admin::dns::start(args.dns_server).context("starting the DNS resolver")?;
    let admin_state =
        portico_admin::AdminState::open(store, cell.clone(), board.clone(), endpoint, credentials)
            .map_err(|e| anyhow::anyhow!("loading the store: {e}"))?;
    if let Some(config) = &config {
        admin_state
            .import_blocking(config, portico_admin::ImportMode::Merge)
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", e.message()))?;
    }
    // A cluster node: its number (in its WebSocket connection ids), the forwarding secret and
    // the first directory of the other nodes, before any worker accepts a connection.
    let cluster_link = match cluster_store {
        Some(pg) => {
            let node_id = admin_listener.local_addr()?.to_string();
            let node = pg
                .claim_node_number(&node_id)
                .map_err(|e| anyhow::anyhow!("claiming a node number: {e}"))?;
            let secret = pg
                .forward_secret(&random_secret()?)
                .map_err(|e| anyhow::anyhow!("reading the cluster's forwarding secret: {e}"))?;
            let directory = Arc::new(ArcSwap::from_pointee(
                portico_admin::cluster::directory(&pg).unwrap_or_default(),
            ));
            admin_state.follow(pg, listen_addr, Arc::clone(&directory));
            tracing::info!(node, "cluster node number");
            Some(portico_dataplane::config::ClusterLink {
                node,
                secret: secret.into(),
                directory,
            })
        }
        None => None,
    };
    if let Some(l) = shared_limits {
        admin_state.share_limits(l);
    }
    let (admin_addr, _admin) = portico_admin::spawn_on(admin_listener, admin_state.clone())
        .with_context(|| format!("serving the admin listener {}", args.admin_listen))?;

    let extra_ca = match &args.upstream_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading --upstream-ca-file {}", path.display()))?,
        ),
        None => None,
    };
    let upstream_tls = portico_dataplane::upstream_tls::client_config(extra_ca.as_deref())
        .map_err(|e| anyhow::anyhow!("--upstream-ca-file: {e}"))?;
    let cfg = Arc::new(DataPlaneConfig {
        domain: args.domain.to_ascii_lowercase(),
        limits: Limits {
            max_header_bytes: args.max_header_bytes,
            max_header_count: args.max_header_count,
            max_body_bytes: args.max_body_bytes,
            header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            write_timeout: Duration::from_millis(args.write_timeout_ms),
        },
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        account: Arc::new(match account_throttle(&args) {
            None => Bucket::unlimited(),
            Some(l) => Bucket::leased(l, workers).shared_as("account"),
        }),
        epoch: std::time::Instant::now(),
        workers,
        cache_capacity_bytes_override: args.cache_capacity_bytes_override,
        authorizer_timeout: Duration::from_millis(args.authorizer_timeout_ms),
        ws: portico_dataplane::ws::WsLimits {
            frame_max_bytes: args.ws_frame_max_bytes,
            message_max_bytes: args.ws_message_max_bytes,
            idle_timeout: Duration::from_millis(args.ws_idle_timeout_ms),
            max_duration: Duration::from_millis(args.ws_max_duration_ms),
        },
        ws_signed,
        upstream_tls,
        cluster: cluster_link,
    });
    let cfg_account = (!cfg.account.is_unlimited()).then_some(cfg.account.limits);
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("installing signal handlers")?;
    let choice = match args.driver {
        DriverArg::Auto => DriverChoice::Auto,
        DriverArg::IoUring => DriverChoice::IoUring,
        DriverArg::Legacy => DriverChoice::Legacy,
    };
    // The writer thread of access and execution logs (files under the data directory,
    // CloudWatch Logs, Firehose).
    portico_dataplane::log_writer::start(args.data_dir.clone());
    let set = spawn_workers(
        listeners,
        tls_listeners,
        cell,
        board,
        cfg,
        stop.clone(),
        choice,
    )
    .context("starting workers")?;
    let driver = match set.driver {
        Driver::IoUring => "io_uring",
        Driver::Legacy => "legacy",
    };
    let tls = tls_addr.map_or(String::new(), |a| format!(" tls={a}"));
    let account_throttle = match &cfg_account {
        Some(l) => format!("{} rps, burst {}", l.rate, l.burst),
        None => "off".to_owned(),
    };
    tracing::info!(listen = %listen_addr, admin = %admin_addr, tls, workers, driver, account_throttle, "portico started");
    println!(
        "portico ready: listen={listen_addr} admin={admin_addr}{tls} workers={workers} driver={driver}"
    );

    if let Some(sig) = signals.forever().next() {
        tracing::info!(signal = sig, "stopping: draining in-flight requests");
    }
    stop.store(true, Ordering::Release);
    set.join();
    // Self-hosted function processes go with the gateway: SIGTERM, then SIGKILL.
    admin_state.functions().stop_blocking();
    // The workers have stopped counting: the last usage plan counts reach the store.
    if let Err(e) = admin_state.flush_usage_blocking() {
        tracing::error!(error = %e, "final usage flush failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// 32 bytes from the kernel's CSPRNG: the forwarding secret, if this node is the cluster's first.
fn random_secret() -> anyhow::Result<[u8; 32]> {
    use std::io::Read as _;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .context("reading /dev/urandom")?;
    Ok(secret)
}

/// The account-level throttle: off unless either flag is given; the other then takes AWS's
/// default.
fn account_throttle(args: &Serve) -> Option<ThrottleLimits> {
    match (args.account_rate_limit, args.account_burst_limit) {
        (None, None) => None,
        (rate, burst) => Some(ThrottleLimits {
            rate: rate.unwrap_or(limits::ACCOUNT_RATE_LIMIT_DEFAULT),
            burst: burst.unwrap_or(limits::ACCOUNT_BURST_LIMIT_DEFAULT),
        }),
    }
}
