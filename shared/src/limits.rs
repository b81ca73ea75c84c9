//! Every bound Portico enforces, in one place, as named constants.
//!
//! Runtime-configurable limits (see `dataplane::config::Limits`) take these as their defaults; the
//! compile-time checks below keep the defaults consistent with each other (TigerStyle: "put a limit
//! on everything").

/// Initial size of a downstream connection's read buffer. Small on purpose: an idle keep-alive
/// connection holds this buffer (io_uring owns it while the read is pending) plus its task
/// (about 4 KiB), and 10,000 of them must fit in well under 80 MiB. Larger heads grow it.
pub const READ_BUF_BYTES: usize = 2 * 1024;

/// Default bound on a request head (request line plus headers). Past it: 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Default bound on the number of request headers. Past it: 431.
pub const MAX_HEADER_COUNT: usize = 100;

/// Hard ceiling for the configurable header count: the parser's header array lives on the stack.
pub const MAX_HEADER_COUNT_CEILING: usize = 256;

/// Default bound on a request body, as Amazon API Gateway's 10 MB payload limit. Past it: 413.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Bound on an upstream response body. Past it the exchange fails (502): API Gateway's 10 MB limit.
pub const MAX_UPSTREAM_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Bound on an upstream response head.
pub const MAX_UPSTREAM_HEADER_BYTES: usize = 64 * 1024;

/// Bound on the number of upstream response headers.
pub const MAX_UPSTREAM_HEADER_COUNT: usize = 128;

/// Default time a downstream client has to send a complete request head (slowloris guard), ms.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// Default time a downstream client has to send the rest of a body once the head arrived, ms.
pub const BODY_READ_TIMEOUT_MS: u64 = 30_000;

/// Default bound on writing one response to a downstream client, ms: a client that stops
/// reading is disconnected instead of holding its buffers.
pub const WRITE_TIMEOUT_MS: u64 = 30_000;

/// A connection closed with request bytes unread first drains them for at most this long, ms,
/// and at most [`LINGER_MAX_BYTES`], so the client can read the error response.
pub const LINGER_MS: u64 = 2_000;
pub const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// Default idle keep-alive timeout for downstream connections, ms.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;

/// Default drain time on SIGTERM/SIGINT before in-flight requests are abandoned, ms.
pub const DRAIN_TIMEOUT_MS: u64 = 10_000;

/// Integration timeout bounds and default (`timeoutInMillis`), as AWS: 50 ms to 30 s.
pub const INTEGRATION_TIMEOUT_MIN_MS: u32 = 50;
pub const INTEGRATION_TIMEOUT_MAX_MS: u32 = 30_000;
pub const INTEGRATION_TIMEOUT_DEFAULT_MS: u32 = 30_000;

/// REST API integration timeout: 50 ms to 29 s, 29 s when absent (AWS's REST limit).
pub const REST_INTEGRATION_TIMEOUT_MAX_MS: u32 = 29_000;
pub const REST_INTEGRATION_TIMEOUT_DEFAULT_MS: u32 = 29_000;
/// Lambda: the longest function name (AWS's limit).
pub const LAMBDA_FUNCTION_NAME_MAX: usize = 64;
/// Lambda: the synchronous Invoke payload limit, each way (AWS's 6 MB).
pub const LAMBDA_PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024;

/// Required request parameters per REST method: the data plane reports the missing ones as a
/// `u64` bitmask, so the error that carries them stays `Copy` and never allocates.
pub const REST_REQUIRED_PARAMETERS_MAX: usize = 64;
const _: () = assert!(REST_REQUIRED_PARAMETERS_MAX <= u64::BITS as usize);

/// Deepest nesting of arrays and objects in a request body that request validation parses
/// (serde_json's own default). Parsing into a `serde_json::Value` and dropping it recurse once per
/// level, so a deeper body is refused as invalid before it is parsed, never a stack overflow on
/// a worker.
pub const REST_BODY_DEPTH_MAX: usize = 128;

/// The account-level throttle's rate or burst when only the other flag is given (AWS's account
/// default: 10,000 rps, burst 5,000). With neither flag the account-level throttle is off: on a
/// self-hosted gateway the machine is the account.
pub const ACCOUNT_RATE_LIMIT_DEFAULT: f64 = 10_000.0;
pub const ACCOUNT_BURST_LIMIT_DEFAULT: u64 = 5_000;

/// How often the control plane writes usage plan counts to its store, ms. A `kill -9` loses at
/// most this much counting.
pub const USAGE_FLUSH_INTERVAL_MS: u64 = 1_000;

/// Bound on establishing an upstream TCP connection, ms (also bounded by the integration timeout).
pub const UPSTREAM_CONNECT_TIMEOUT_MS: u64 = 5_000;

/// Idle upstream connections kept per upstream address per worker.
pub const UPSTREAM_IDLE_PER_HOST: usize = 256;

/// An idle upstream connection older than this is closed instead of reused, ms.
pub const UPSTREAM_IDLE_TIMEOUT_MS: u64 = 30_000;

/// An idle upstream connection older than this is checked (one `MSG_PEEK`) before reuse, ms.
pub const UPSTREAM_PEEK_AFTER_IDLE_MS: u64 = 1_000;

/// Path segments a route key or a request path may have.
pub const MAX_PATH_SEGMENTS: usize = 64;

/// Path parameters one route may capture.
pub const MAX_PATH_PARAMS: usize = 16;

/// Routes one API may have (AWS's default quota is 300; Portico allows far more).
pub const MAX_ROUTES_PER_API: usize = 100_000;

/// Bound on the request path plus query string, bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Bound on a chunked body's trailer section, bytes (trailers are read and dropped).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Largest chunk-size line accepted in a chunked body (hex digits plus extensions), bytes.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// How often a worker publishes its latency histograms for the admin side to merge, ms.
pub const STATS_PUBLISH_INTERVAL_MS: u64 = 1_000;

/// Histogram range: 1 µs to 60 s, 2 significant digits (1% precision, ~20 KiB per histogram).
pub const HISTOGRAM_MAX_US: u64 = 60_000_000;
pub const HISTOGRAM_SIGFIG: u8 = 2;

const _: () = assert!(MAX_HEADER_BYTES >= READ_BUF_BYTES);
const _: () = assert!(MAX_HEADER_COUNT <= MAX_HEADER_COUNT_CEILING);
const _: () = assert!(MAX_PATH_PARAMS <= MAX_PATH_SEGMENTS);
const _: () = assert!(INTEGRATION_TIMEOUT_MIN_MS <= INTEGRATION_TIMEOUT_DEFAULT_MS);
const _: () = assert!(INTEGRATION_TIMEOUT_DEFAULT_MS <= INTEGRATION_TIMEOUT_MAX_MS);
const _: () = assert!(MAX_URI_BYTES <= MAX_HEADER_BYTES);

/// Largest response the REST response cache stores (AWS: 1,048,576 bytes); larger ones are
/// served but not cached.
pub const CACHE_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// `caching/ttlInSeconds`: AWS's default and upper bound (0 disables caching).
pub const CACHE_TTL_DEFAULT_S: u32 = 300;
pub const CACHE_TTL_MAX_S: u32 = 3_600;

/// Cache key parameters per method (AWS has no documented bound; the key is built per request).
pub const CACHE_KEY_PARAMETERS_MAX: usize = 32;

const _: () = assert!(CACHE_MAX_RESPONSE_BYTES <= MAX_UPSTREAM_BODY_BYTES);
const _: () = assert!(CACHE_TTL_DEFAULT_S <= CACHE_TTL_MAX_S);

// === WebSocket APIs (AWS's quotas) ===

/// Largest WebSocket frame payload a client may send; past it the connection closes with 1009.
pub const WS_FRAME_MAX_BYTES: usize = 32 * 1024;

/// Largest WebSocket message (all its frames) and `PostToConnection` body; past it: close 1009
/// (downstream) or 413 (`@connections`).
pub const WS_MESSAGE_MAX_BYTES: usize = 128 * 1024;

/// A WebSocket connection with no message either way for this long is closed (1001).
pub const WS_IDLE_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// A WebSocket connection is closed (1001) this long after it opened, whatever it does.
pub const WS_MAX_DURATION_MS: u64 = 2 * 60 * 60 * 1000;

/// Bytes queued for one WebSocket connection (posts and route responses) before
/// `PostToConnection` answers 429: a client that stops reading cannot make the gateway buffer
/// without bound.
pub const WS_OUTBOUND_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Default integration timeout of WebSocket APIs, as AWS (50 ms to 29 s).
pub const WS_INTEGRATION_TIMEOUT_DEFAULT_MS: u32 = 29_000;

/// Routes a WebSocket API may have, as AWS.
pub const WS_ROUTES_MAX: usize = 300;

const _: () = assert!(WS_FRAME_MAX_BYTES <= WS_MESSAGE_MAX_BYTES);
const _: () = assert!(WS_MESSAGE_MAX_BYTES <= WS_OUTBOUND_MAX_BYTES);
const _: () = assert!(WS_IDLE_TIMEOUT_MS <= WS_MAX_DURATION_MS);
/// Self-hosted Lambda functions (admin `lambda/`): AWS's payload bounds for synchronous
/// (`RequestResponse`) invocations and responses, and for `Event` invocations, bytes.
pub const LAMBDA_SYNC_PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024;
pub const LAMBDA_RESPONSE_MAX_BYTES: usize = 6_291_556;
pub const LAMBDA_EVENT_PAYLOAD_MAX_BYTES: usize = 256 * 1024;

/// `Timeout` of a function: AWS's default and bounds, seconds.
pub const LAMBDA_TIMEOUT_DEFAULT_S: u32 = 3;
pub const LAMBDA_TIMEOUT_MAX_S: u32 = 900;

/// `MemorySize`: AWS's default and bounds, MB (Portico does not enforce it on the process).
pub const LAMBDA_MEMORY_DEFAULT_MB: u32 = 128;
pub const LAMBDA_MEMORY_MIN_MB: u32 = 128;
pub const LAMBDA_MEMORY_MAX_MB: u32 = 10_240;

/// How long a new instance may take to reach its first `invocation/next` (AWS: 10 s), ms.
pub const LAMBDA_INIT_TIMEOUT_MS: u64 = 10_000;

/// An instance idle this long is stopped (the next invocation cold-starts), s.
pub const LAMBDA_IDLE_S: u64 = 300;

/// Invocations waiting for an instance, per allowed concurrent instance of the function; past
/// it `Invoke` answers 429 at once. A queued invocation waits at most
/// `max(LAMBDA_QUEUE_WAIT_MIN_MS, Timeout)`, then 429.
pub const LAMBDA_QUEUE_PER_INSTANCE: usize = 4;
pub const LAMBDA_QUEUE_WAIT_MIN_MS: u64 = 10_000;

/// `Event` invocations accepted and not yet finished, per function; past it 429.
pub const LAMBDA_EVENTS_IN_FLIGHT_MAX: usize = 1_000;

/// Unpacked code of one function (AWS: 250 MB), bytes, and entries in its zip.
pub const LAMBDA_CODE_UNZIPPED_MAX_BYTES: u64 = 250 * 1024 * 1024;
pub const LAMBDA_CODE_ENTRIES_MAX: usize = 100_000;

/// A process output line longer than this is cut before it is logged, bytes.
pub const LAMBDA_LOG_LINE_MAX_BYTES: usize = 8 * 1024;

/// Grace between SIGTERM and SIGKILL for instances at shutdown, ms.
pub const LAMBDA_STOP_GRACE_MS: u64 = 500;

const _: () = assert!(LAMBDA_EVENT_PAYLOAD_MAX_BYTES <= LAMBDA_SYNC_PAYLOAD_MAX_BYTES);
const _: () = assert!(LAMBDA_TIMEOUT_DEFAULT_S <= LAMBDA_TIMEOUT_MAX_S);
const _: () = assert!(LAMBDA_MEMORY_MIN_MB <= LAMBDA_MEMORY_DEFAULT_MB);
const _: () = assert!(LAMBDA_MEMORY_DEFAULT_MB <= LAMBDA_MEMORY_MAX_MB);
const _: () = assert!(LAMBDA_PAYLOAD_MAX_BYTES <= MAX_UPSTREAM_BODY_BYTES);
/// Targets one VPC link pool may have (the data plane tracks tried targets in a `u64`).
pub const VPC_LINK_TARGETS_MAX: usize = 64;

/// VPC link active health checks: interval bounds and defaults, ms.
pub const VPC_LINK_HEALTH_INTERVAL_MIN_MS: u32 = 100;
pub const VPC_LINK_HEALTH_INTERVAL_MAX_MS: u32 = 300_000;
pub const VPC_LINK_HEALTH_INTERVAL_DEFAULT_MS: u32 = 5_000;
pub const VPC_LINK_HEALTH_TIMEOUT_DEFAULT_MS: u32 = 2_000;
/// Consecutive checks that change a target's health (either way), by default.
pub const VPC_LINK_HEALTH_THRESHOLD_DEFAULT: u32 = 2;
/// How long a target that failed a request is left out, by default, ms.
pub const VPC_LINK_EJECT_DEFAULT_MS: u32 = 10_000;
/// Targets tried for one request when connecting fails (nothing was sent, so any method).
pub const VPC_LINK_CONNECT_ATTEMPTS_MAX: usize = 3;

const _: () = assert!(VPC_LINK_TARGETS_MAX <= 64);
const _: () = assert!(VPC_LINK_HEALTH_INTERVAL_MIN_MS <= VPC_LINK_HEALTH_INTERVAL_DEFAULT_MS);
const _: () = assert!(VPC_LINK_HEALTH_INTERVAL_DEFAULT_MS <= VPC_LINK_HEALTH_INTERVAL_MAX_MS);

// === data plane: per-core reuse ===

/// Largest per-request buffer (or upstream call buffer) a worker keeps for reuse; bigger ones
/// are freed after their request.
pub const BUFFER_REUSE_MAX_BYTES: usize = 256 * 1024;
/// Buffers (and upstream calls) a worker keeps on its free lists.
pub const BUFFER_REUSE_MAX: usize = 1024;

// === data plane: per-core state and I/O ===

/// Bodies up to this size are copied behind the response head so the response leaves in one
/// write; larger ones are written from the upstream call's buffer.
pub const INLINE_BODY_MAX_BYTES: usize = 64 * 1024;
/// The io_uring submission queue entries of a worker's driver.
pub const IO_URING_ENTRIES: u32 = 4096;
/// Bytes read from the socket at a time during a TLS handshake: rustls always takes them whole.
pub const TLS_HANDSHAKE_READ_CHUNK_BYTES: usize = 4096;
/// Ciphertext read from a `wss://` socket at a time (a TLS record is at most ~16 KiB; rustls
/// takes partial records). Held by an idle `wss://` connection's pending read.
pub const WSS_READ_CHUNK_BYTES: usize = 4096;
/// Longest a verified JWT is trusted without verifying it again (a key removed from the
/// issuer's JWKS stops being honoured within this).
pub const JWT_VERIFIED_TTL_MAX_S: u64 = 60;
/// Verified tokens remembered per core; when full, expired entries go, then everything.
pub const JWT_VERIFIED_TOKENS_MAX: usize = 16_384;
/// Derived SigV4 signing keys a worker keeps: one per (access key, day, region) in use.
pub const IAM_SIGNING_KEYS_CACHED_MAX: usize = 16;
/// Bookkeeping bytes counted per response cache entry beside its key and data (map slot,
/// `Rc`, expiry).
pub const CACHE_ENTRY_OVERHEAD_BYTES: u64 = 96;
/// Request validation problems listed at most in `$context.error.validationErrorString`.
pub const REST_VALIDATION_ERRORS_MAX: usize = 10;

// An inline response (head and body) fits a buffer the worker keeps for reuse, so the
// response buffer of a small answer is never freed after its request.
const _: () = assert!(INLINE_BODY_MAX_BYTES + MAX_UPSTREAM_HEADER_BYTES <= BUFFER_REUSE_MAX_BYTES);

/// Upstream host names are looked up again when their record's TTL runs out, but never sooner
/// than this after the last lookup (a TTL of 0 would otherwise mean a lookup loop), ms.
pub const DNS_TTL_FLOOR_MS: u64 = 1_000;
/// ... and never later than this (a long TTL still follows a changed address within 5 min), ms.
pub const DNS_TTL_CEILING_MS: u64 = 300_000;
/// A failed lookup (no answer, NXDOMAIN, no address) is tried again after this long, ms.
pub const DNS_RETRY_MS: u64 = 1_000;
/// How often the resolver looks for names due, ms.
pub const DNS_TICK_MS: u64 = 100;
/// Longest a compilation waits for a new host name's first lookup (then it deploys anyway, and
/// requests answer 500 until the background resolver gets an address), ms.
pub const DNS_COMPILE_WAIT_MS: u64 = 2_000;
const _: () = assert!(DNS_TTL_FLOOR_MS <= DNS_TTL_CEILING_MS && DNS_RETRY_MS >= DNS_TICK_MS);
/// Re-lookup interval for a name whose TTL the system resolver does not tell (the
/// `getaddrinfo` fallback, used only when /etc/resolv.conf cannot be read), ms.
pub const DNS_TTL_UNKNOWN_MS: u64 = 30_000;
