//! Runtime settings of the data plane: listener, domain and limits, from the command line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use portico_shared::cluster::NodeDirectory;
use portico_shared::limits;
use portico_shared::limits::AUTHORIZER_TIMEOUT_MS;
use portico_shared::throttle::Bucket;

/// Limits enforced on downstream connections. Defaults are [`portico_shared::limits`].
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_header_count: usize,
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// Bound on writing one response to a client.
    pub write_timeout: Duration,
}

/// Everything a worker needs besides the snapshot.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// API host names are `{apiId}.{domain}`.
    pub domain: String,
    pub limits: Limits,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT.
    pub drain_timeout: Duration,
    /// The account-level throttle every request takes a token from (leased per worker);
    /// [`Bucket::unlimited`] unless `--account-rate-limit`/`--account-burst-limit` is given.
    pub account: Arc<Bucket>,
    /// The zero of the monotonic clock the shared token buckets count in: the same for every
    /// worker.
    pub epoch: Instant,
    /// Worker count: each worker's response cache shard holds 1/workers of a stage's bound.
    pub workers: usize,
    /// Tests only: replaces every stage cache's byte bound (`--cache-capacity-bytes-override`).
    pub cache_capacity_bytes_override: Option<u64>,
    /// Lambda authorizers: how long the function may take (`--authorizer-timeout-ms`).
    pub authorizer_timeout: Duration,
    /// WebSocket APIs: frame, message, idle and duration limits.
    pub ws: WsLimits,
    /// `@connections` requires a SigV4 signature (the admin credentials are set): the admin
    /// credentials (the account's root) or an IAM user allowed `execute-api:ManageConnections`,
    /// both from the snapshot's `IamTable`. `false`: no check, as the admin API without
    /// credentials.
    pub ws_signed: bool,
    /// The TLS client of `https://` upstreams (public roots plus `--upstream-ca-file`).
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// This node's part in a cluster (`serve --store postgres://...`): `@connections` calls for
    /// another node's connection are forwarded there. `None` on a node of its own.
    pub cluster: Option<ClusterLink>,
}

/// What a node needs to forward `@connections` calls to the node that owns the connection.
#[derive(Clone)]
pub struct ClusterLink {
    /// This node's number, in the ids of the connections it owns (1 to 255).
    pub node: u8,
    /// The cluster's forwarding secret (from PostgreSQL): keys [`FORWARDED_HEADER`]'s MAC.
    ///
    /// [`FORWARDED_HEADER`]: portico_shared::cluster::FORWARDED_HEADER
    pub secret: Arc<[u8]>,
    /// The other nodes by number, republished by the admin side after each heartbeat; read
    /// with one atomic load per forwarded call.
    pub directory: Arc<ArcSwap<NodeDirectory>>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("node", &self.node)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The data plane's WebSocket limits (AWS's quotas by default; flags for tests).
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub frame_max_bytes: usize,
    pub message_max_bytes: usize,
    pub idle_timeout: Duration,
    pub max_duration: Duration,
}

impl Default for WsLimits {
    fn default() -> WsLimits {
        use portico_shared::limits as l;
        WsLimits {
            frame_max_bytes: l::WS_FRAME_MAX_BYTES,
            message_max_bytes: l::WS_MESSAGE_MAX_BYTES,
            idle_timeout: Duration::from_millis(l::WS_IDLE_TIMEOUT_MS),
            max_duration: Duration::from_millis(l::WS_MAX_DURATION_MS),
        }
    }
}

// === impl Limits ===

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: limits::HEADER_MAX_BYTES,
            max_header_count: limits::HEADER_COUNT_MAX,
            max_body_bytes: limits::BODY_MAX_BYTES,
            header_read_timeout: Duration::from_millis(limits::HEADER_READ_TIMEOUT_MS),
            body_read_timeout: Duration::from_millis(limits::BODY_READ_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(limits::IDLE_TIMEOUT_MS),
            write_timeout: Duration::from_millis(limits::WRITE_TIMEOUT_MS),
        }
    }
}

// === impl DataPlaneConfig ===

impl Default for DataPlaneConfig {
    fn default() -> DataPlaneConfig {
        DataPlaneConfig {
            domain: "execute-api.localhost".into(),
            limits: Limits::default(),
            drain_timeout: Duration::from_millis(limits::DRAIN_TIMEOUT_MS),
            account: Arc::new(Bucket::unlimited()),
            epoch: Instant::now(),
            workers: 1,
            cache_capacity_bytes_override: None,
            authorizer_timeout: Duration::from_millis(u64::from(AUTHORIZER_TIMEOUT_MS)),
            ws: Default::default(),
            ws_signed: false,
            upstream_tls: crate::upstream_tls::client_config(None)
                .expect("the built-in roots are valid"),
            cluster: None,
        }
    }
}

impl DataPlaneConfig {
    /// Wall-clock milliseconds since the Unix epoch (WebSocket `connectedAt`, `lastActiveAt`).
    pub fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Nanoseconds since [`DataPlaneConfig::epoch`]: the clock of the shared token buckets.
    pub fn mono_ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Milliseconds since [`DataPlaneConfig::epoch`]: the clock of VPC link ejections.
    pub fn mono_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }
}
