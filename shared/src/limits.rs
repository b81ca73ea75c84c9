//! Every bound Portico enforces, in one place, as named constants.
//!
//! Runtime-configurable limits (see `dataplane::config::Limits`) take these as their defaults; the
//! compile-time checks below keep the defaults consistent with each other (TigerStyle: "put a limit
//! on everything").
//!
//! Names: the thing first, then the bound, then the unit (`HEADER_MAX_BYTES`, `HEADER_COUNT_MAX`,
//! `INTEGRATION_TIMEOUT_MIN_MS`, `CACHE_TTL_DEFAULT_S`); counts carry no unit, sizes end in
//! `_BYTES` or `_CHARS`, durations in `_NS`, `_US`, `_MS` or `_S`. A numeric constant declared
//! anywhere else in shared, admin or dataplane fails `shared/tests/tidy.rs` unless it is listed
//! there as not a limit (a wire-format number, a bit layout).

/// Initial size of a downstream connection's read buffer. Small on purpose: an idle keep-alive
/// connection holds this buffer (io_uring owns it while the read is pending) plus its task
/// (about 4 KiB), and 10,000 of them must fit in well under 80 MiB. Larger heads grow it.
pub const READ_BUF_BYTES: usize = 2 * 1024;

/// Default bound on a request head (request line plus headers). Past it: 431.
pub const HEADER_MAX_BYTES: usize = 16 * 1024;

/// Default bound on the number of request headers. Past it: 431.
pub const HEADER_COUNT_MAX: usize = 100;

/// Hard ceiling for the configurable header count: the parser's header array lives on the stack.
pub const HEADER_COUNT_CEILING: usize = 256;

/// Default bound on a request body, as Amazon API Gateway's 10 MB payload limit. Past it: 413.
pub const BODY_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Bound on an upstream response body. Past it the exchange fails (502): API Gateway's 10 MB limit.
pub const UPSTREAM_BODY_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Bound on an upstream response head.
pub const UPSTREAM_HEADER_MAX_BYTES: usize = 64 * 1024;

/// Bound on the number of upstream response headers.
pub const UPSTREAM_HEADER_COUNT_MAX: usize = 128;

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
/// The most bytes a closing connection drains (see [`LINGER_MS`]).
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
pub const UPSTREAM_IDLE_PER_HOST_MAX: usize = 256;

/// An idle upstream connection older than this is closed instead of reused, ms.
pub const UPSTREAM_IDLE_TIMEOUT_MS: u64 = 30_000;

/// A stage's `accessLogSettings.format`, characters (AWS's `CreateStage` bound).
pub const ACCESS_LOG_FORMAT_MAX_CHARS: usize = 1024;

/// An idle upstream connection older than this is checked (one `MSG_PEEK`) before reuse, ms.
pub const UPSTREAM_PEEK_AFTER_IDLE_MS: u64 = 1_000;

/// Path segments a route key or a request path may have.
pub const PATH_SEGMENTS_MAX: usize = 64;

/// Path parameters one route may capture.
pub const PATH_PARAMS_MAX: usize = 16;

/// Routes one API may have (AWS's default quota is 300; Portico allows far more).
pub const ROUTES_PER_API_MAX: usize = 100_000;

/// Bound on the request path plus query string, bytes.
pub const URI_MAX_BYTES: usize = 8 * 1024;

/// Bound on a chunked body's trailer section, bytes (trailers are read and dropped).
pub const TRAILER_MAX_BYTES: usize = 16 * 1024;

/// Largest chunk-size line accepted in a chunked body (hex digits plus extensions), bytes.
pub const CHUNK_LINE_MAX_BYTES: usize = 1024;

/// How often a worker publishes its latency histograms for the admin side to merge, ms.
pub const STATS_PUBLISH_INTERVAL_MS: u64 = 1_000;

/// Histogram range: 1 µs to 60 s, 2 significant digits (1% precision, ~20 KiB per histogram).
pub const HISTOGRAM_MAX_US: u64 = 60_000_000;
pub const HISTOGRAM_SIGFIG: u8 = 2;

const _: () = assert!(HEADER_MAX_BYTES >= READ_BUF_BYTES);
const _: () = assert!(HEADER_COUNT_MAX <= HEADER_COUNT_CEILING);
const _: () = assert!(PATH_PARAMS_MAX <= PATH_SEGMENTS_MAX);
const _: () = assert!(INTEGRATION_TIMEOUT_MIN_MS <= INTEGRATION_TIMEOUT_DEFAULT_MS);
const _: () = assert!(INTEGRATION_TIMEOUT_DEFAULT_MS <= INTEGRATION_TIMEOUT_MAX_MS);
const _: () = assert!(URI_MAX_BYTES <= HEADER_MAX_BYTES);

/// Largest response the REST response cache stores (AWS: 1,048,576 bytes); larger ones are
/// served but not cached.
pub const CACHE_RESPONSE_MAX_BYTES: usize = 1024 * 1024;

/// `caching/ttlInSeconds`: AWS's default and upper bound (0 disables caching).
pub const CACHE_TTL_DEFAULT_S: u32 = 300;
pub const CACHE_TTL_MAX_S: u32 = 3_600;

/// Cache key parameters per method (AWS has no documented bound; the key is built per request).
pub const CACHE_KEY_PARAMETERS_MAX: usize = 32;

const _: () = assert!(CACHE_RESPONSE_MAX_BYTES <= UPSTREAM_BODY_MAX_BYTES);
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
pub const LAMBDA_QUEUE_PER_INSTANCE_MAX: usize = 4;
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
const _: () = assert!(LAMBDA_PAYLOAD_MAX_BYTES <= UPSTREAM_BODY_MAX_BYTES);
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
/// Blocks of one layout a worker keeps for its connections' per-request futures (`sys::Boxes`):
/// the most requests in flight at once it serves without `malloc`; about 2.7 KiB each.
pub const FUTURE_BLOCKS_KEPT_PER_LAYOUT: usize = 256;
/// Entries of freed or re-armed deadlines a worker's timer heap tolerates before compacting
/// (and at least as many as live ones): 24 bytes each.
pub const TIMER_STALE_ENTRIES_MAX: usize = 4096;

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
const _: () = assert!(INLINE_BODY_MAX_BYTES + UPSTREAM_HEADER_MAX_BYTES <= BUFFER_REUSE_MAX_BYTES);

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

// === data plane: logs and traces ===

/// Request and response bodies and header lists in a data trace are cut here (AWS: 1,024).
pub const TRACE_DATA_MAX_BYTES: usize = 1024;
/// Lines per second per worker that gateway-produced 5xx write to Portico's log: a failing
/// upstream under load must not turn the log into the bottleneck.
pub const GATEWAY_5XX_LOG_MAX_PER_S: u32 = 10;
/// Access log lines one worker may have queued before it drops (`PORTICO_ACCESS_LOG_QUEUE`
/// overrides): a slow sink costs lines, never worker memory without bound.
pub const ACCESS_LOG_QUEUE_DEFAULT_LINES: usize = 8192;
/// How often the access log writer drains the workers' queues, ms.
pub const ACCESS_LOG_FLUSH_INTERVAL_MS: u64 = 200;
/// An access log file is rotated (to `.1`) past this size (`PORTICO_ACCESS_LOG_ROTATE_BYTES`
/// overrides): two files bound the disk a busy gateway's log takes.
pub const ACCESS_LOG_ROTATE_DEFAULT_BYTES: u64 = 64 << 20;
/// Connect, write and read timeout of one call to an access log sink, ms.
pub const ACCESS_LOG_SINK_TIMEOUT_MS: u64 = 2_000;
/// CloudWatch Logs `PutLogEvents`: at most 10,000 events and 1 MiB (each event counted 26 bytes
/// more), AWS's limits.
pub const CLOUDWATCH_LOGS_BATCH_MAX_EVENTS: usize = 10_000;
pub const CLOUDWATCH_LOGS_BATCH_MAX_BYTES: usize = 1_000_000;
/// Firehose `PutRecordBatch`: at most 500 records and 4 MiB, AWS's limits.
pub const FIREHOSE_BATCH_MAX_RECORDS: usize = 500;
pub const FIREHOSE_BATCH_MAX_BYTES: usize = 4_000_000;
/// The log chunks one worker owns (filling, with the writer, or free): its bound on memory and
/// on lines in flight. A worker whose chunks are all with the writer drops lines.
pub const LOG_CHUNKS_PER_WORKER: usize = 16;
/// A worker's log chunk goes to the writer once it holds this many bytes: one hand-over per
/// few hundred lines, not one per line.
pub const LOG_CHUNK_BYTES: usize = 64 << 10;
/// A chunk that grew past this (a few very long lines) is shrunk when it comes back.
pub const LOG_CHUNK_KEEP_MAX_BYTES: usize = 4 * LOG_CHUNK_BYTES;
/// A network log sink (CloudWatch Logs, Firehose) is called once this much waits for it, or
/// once its first chunk waited the flush interval: fewer, fuller calls than one per chunk.
pub const LOG_SINK_CALL_BYTES: usize = 4 * LOG_CHUNK_BYTES;

const _: () = assert!(GATEWAY_5XX_LOG_MAX_PER_S > 0);
const _: () = assert!(ACCESS_LOG_QUEUE_DEFAULT_LINES > 0 && ACCESS_LOG_ROTATE_DEFAULT_BYTES > 0);
const _: () = assert!(ACCESS_LOG_FLUSH_INTERVAL_MS < ACCESS_LOG_SINK_TIMEOUT_MS);
const _: () = assert!(ACCESS_LOG_QUEUE_DEFAULT_LINES >= LOG_CHUNKS_PER_WORKER);
const _: () = assert!(LOG_SINK_CALL_BYTES < CLOUDWATCH_LOGS_BATCH_MAX_BYTES);
const _: () = assert!(LOG_CHUNK_BYTES <= LOG_CHUNK_KEEP_MAX_BYTES);

// === data plane: execution roles (STS credentials) ===

/// A request whose integration's role has no credentials yet waits for them with pauses that
/// start here and double up to the maximum, ms: short enough for the first request after a
/// deploy, long enough not to spin.
pub const ROLE_WAIT_PAUSE_MIN_MS: u64 = 5;
pub const ROLE_WAIT_PAUSE_MAX_MS: u64 = 50;
/// Role credentials are renewed this long before they expire, s: no request ever signs with
/// credentials about to lapse.
pub const ROLE_RENEW_BEFORE_S: u64 = 300;
/// A failed `AssumeRole` is retried after this long, s.
pub const ROLE_RETRY_S: u64 = 5;
/// `DurationSeconds` asked of STS (its default), s.
pub const ROLE_DURATION_S: u64 = 3600;
/// How often the admin side's STS task looks at the role slots, ms.
pub const STS_TICK_MS: u64 = 100;
/// One `AssumeRole` call's bound, ms.
pub const STS_CALL_TIMEOUT_MS: u64 = 5_000;
/// The largest STS answer read (a credentials document is about 2 KiB).
pub const STS_ANSWER_MAX_BYTES: usize = 64 * 1024;

const _: () = assert!(ROLE_WAIT_PAUSE_MIN_MS <= ROLE_WAIT_PAUSE_MAX_MS);
const _: () = assert!(ROLE_RENEW_BEFORE_S < ROLE_DURATION_S);
const _: () = assert!(ROLE_RETRY_S < ROLE_RENEW_BEFORE_S);

// === authorizers: JWT, Lambda, IAM ===

/// Leeway for `exp`, `nbf` and `iat`, s: clocks of issuers and gateways drift.
pub const JWT_LEEWAY_S: u64 = 30;
/// Longest token accepted (a header line is bounded anyway; this bounds the decode work).
pub const JWT_MAX_BYTES: usize = 8192;
/// An unknown `kid` refetches an issuer's keys at most this often, s: a client sending random
/// `kid`s cannot turn the gateway into a load generator against the issuer.
pub const JWKS_REFETCH_INTERVAL_MIN_S: u64 = 5;
/// Keys are refetched in the background this long after a successful fetch, s.
pub const JWKS_TTL_S: u64 = 3600;
/// A fetch that failed is retried after this long, s.
pub const JWKS_RETRY_S: u64 = 5;
/// Largest discovery document or JWKS accepted, as AWS.
pub const JWKS_MAX_BYTES: usize = 150_000;
/// Discovery and JWKS fetch timeout, as AWS, ms.
pub const JWKS_FETCH_TIMEOUT_MS: u64 = 1500;
/// How often the JWKS fetcher looks at its slots, ms: the delay before a new authorizer's first
/// fetch and before a refresh request is seen.
pub const JWKS_TICK_MS: u64 = 100;
/// Audiences per JWT authorizer, as AWS.
pub const JWT_AUDIENCES_MAX: usize = 50;

/// AWS's default `authorizerResultTtlInSeconds` for REST authorizers.
pub const AUTHORIZER_TTL_DEFAULT_S: u32 = 300;
/// AWS's largest `authorizerResultTtlInSeconds`.
pub const AUTHORIZER_TTL_MAX_S: u32 = 3600;
/// How long an authorizer function may take, ms (AWS documents 10 s for HTTP APIs; REST is the
/// same order).
pub const AUTHORIZER_TIMEOUT_MS: u32 = 10_000;
/// Largest authorizer answer parsed (AWS: 8 KB for the result; the policy and context make it).
pub const AUTHORIZER_RESPONSE_MAX_BYTES: usize = 64 * 1024;
/// Authorizer decisions cached per core; when full, expired entries go, then everything.
pub const AUTHORIZER_CACHE_ENTRIES_MAX: usize = 16_384;
/// Authorizers per API (REST and HTTP alike), as AWS.
pub const AUTHORIZERS_PER_API_MAX: usize = 10;
/// `authorizationScopes` per route, as AWS.
pub const AUTHORIZATION_SCOPES_MAX: usize = 10;

/// The longest policy document accepted (AWS: 8,192 characters for resource policies; IAM
/// managed policies allow 6,144 without whitespace, which this bound covers).
pub const POLICY_MAX_CHARS: usize = 20_480;
/// How far a SigV4 request's signing time may be from the verifier's clock, either way (AWS:
/// 15 min), s.
pub const SIGV4_CLOCK_SKEW_MAX_S: u64 = 15 * 60;
/// Longest validity a presigned URL may ask for (AWS: 7 days), s.
pub const SIGV4_PRESIGNED_EXPIRES_MAX_S: u64 = 7 * 24 * 60 * 60;
/// AWS's quota of IAM access keys per user.
pub const IAM_ACCESS_KEYS_PER_USER_MAX: usize = 2;

const _: () = assert!(JWKS_REFETCH_INTERVAL_MIN_S <= JWKS_TTL_S && JWKS_RETRY_S <= JWKS_TTL_S);
const _: () = assert!(AUTHORIZER_TTL_DEFAULT_S <= AUTHORIZER_TTL_MAX_S);
const _: () = assert!(JWT_MAX_BYTES <= HEADER_MAX_BYTES);
const _: () = assert!(SIGV4_CLOCK_SKEW_MAX_S < SIGV4_PRESIGNED_EXPIRES_MAX_S);

// === throttling, quotas and the cluster ===

/// How long a worker may hold leased tokens before returning what is left, ns.
pub const LEASE_WINDOW_NS: u64 = 10_000_000;
/// How long a node keeps leased tokens nobody spends before returning them, ms.
pub const LEASE_POOL_WINDOW_MS: u64 = 250;
/// A lease covers this much of the rate, ms (capped at a quarter of the burst).
pub const LEASE_SPAN_MS: u64 = 50;
/// Shards of the API key table: a change copies 1/`API_KEY_SHARDS` of it.
pub const API_KEY_SHARDS: usize = 256;
/// Largest stage (and method) throttle rate, requests per second, and burst: far above what one
/// machine serves, so only nonsense is refused.
pub const STAGE_THROTTLE_RATE_MAX_PER_S: f64 = 1_000_000_000.0;
pub const STAGE_THROTTLE_BURST_MAX: i64 = 1_000_000_000;
/// Read/write timeout of every Redis call of the shared limits, ms.
pub const REDIS_TIMEOUT_MS: u64 = 200;
/// Reconnect attempts while Redis is down, ms apart.
pub const REDIS_RECONNECT_MS: u64 = 500;
/// Shared limits housekeeping period: quota reconciliation and expired leases, ms.
pub const SHARED_LIMITS_TICK_MS: u64 = 50;
/// Pending lease requests the shared limits' channel holds; past it a worker uses its fallback.
pub const SHARED_LIMITS_QUEUE_MAX: usize = 4096;

/// How far a forwarded call's time may be from the owner's clock, s (either way: nodes' clocks
/// differ a little).
pub const FORWARD_MAX_AGE_S: u64 = 30;
/// How long a node waits for the owner's answer to a forwarded call, ms; past it: 410.
pub const FORWARD_TIMEOUT_MS: u64 = 3_000;
/// How often a node looks for changes committed by others (and beats), ms.
pub const CLUSTER_POLL_INTERVAL_MS: u64 = 1_000;
/// A node whose heartbeat is older than this is not live (`wait` does not wait for it), ms.
pub const CLUSTER_LIVE_WITHIN_MS: u64 = 5_000;
/// A node whose last successful poll is older than this reports itself stale, ms.
pub const CLUSTER_STALE_AFTER_MS: u64 = 3_000;
/// Longest `wait` timeout the admin API accepts (and `portico wait` asks for), s.
pub const CLUSTER_WAIT_MAX_S: u64 = 300;
/// A node number is given to another node once its node has not beaten for this long, s.
pub const CLUSTER_NODE_NUMBER_REUSE_AFTER_S: u64 = 600;

const _: () = assert!(LEASE_SPAN_MS <= LEASE_POOL_WINDOW_MS);
const _: () = assert!(SHARED_LIMITS_TICK_MS < REDIS_RECONNECT_MS);
const _: () = assert!(CLUSTER_POLL_INTERVAL_MS < CLUSTER_STALE_AFTER_MS);
const _: () = assert!(CLUSTER_STALE_AFTER_MS <= CLUSTER_LIVE_WITHIN_MS);
const _: () = assert!(CLUSTER_LIVE_WITHIN_MS / 1000 < CLUSTER_NODE_NUMBER_REUSE_AFTER_S);

// === templates, mappings, CORS, domains ===

/// AWS's `#foreach` limit.
pub const VTL_FOREACH_MAX: usize = 1_000;
/// Evaluation steps one render may take (nested loops cannot run away).
pub const VTL_STEPS_MAX: usize = 200_000;
/// A render stops growing its output past this (API Gateway's 10 MB payload limit).
pub const VTL_OUTPUT_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Nesting of directives, expressions and string interpolation: the parser and renderer
/// recurse once per level, so this bounds their stack.
pub const VTL_DEPTH_MAX: usize = 48;
/// AWS's template size limit.
pub const VTL_TEMPLATE_MAX_BYTES: usize = 300 * 1024;
/// Parameter mappings per integration (request) or per status code (response).
pub const MAPPINGS_MAX: usize = 50;
/// Longest mapping value expression.
pub const MAPPING_VALUE_MAX_CHARS: usize = 512;
/// Entries per CORS list (`allowOrigins`, `allowMethods`, `allowHeaders`, `exposeHeaders`).
pub const CORS_LIST_MAX: usize = 100;
/// The longest CORS `maxAge`, as AWS, s.
pub const CORS_MAX_AGE_MAX_S: i32 = 86_400;
/// Longest domain name (RFC 1035), for the lowercase copy on the stack.
pub const DOMAIN_NAME_MAX_BYTES: usize = 253;

const _: () = assert!(VTL_FOREACH_MAX <= VTL_STEPS_MAX);
const _: () = assert!(VTL_TEMPLATE_MAX_BYTES <= V2_BODY_MAX_BYTES);
const _: () = assert!(DOMAIN_NAME_MAX_BYTES <= HEADER_MAX_BYTES);

// === REST API response cache ===

/// `cacheClusterSize` values (GB) with their byte bounds: AWS's sizes, each bounding the bytes
/// the stage's cache holds per core.
pub const CACHE_CLUSTER_SIZES: [(&str, u64); 8] = [
    ("0.5", 500_000_000),
    ("1.6", 1_600_000_000),
    ("6.1", 6_100_000_000),
    ("13.5", 13_500_000_000),
    ("28.4", 28_400_000_000),
    ("58.2", 58_200_000_000),
    ("118", 118_000_000_000),
    ("237", 237_000_000_000),
];

const _: () = assert!(CACHE_RESPONSE_MAX_BYTES as u64 <= CACHE_CLUSTER_SIZES[0].1);

// === admin API: request bodies, pages, ids ===

/// Largest admin request body: `PUT /portico/config` carries whole configurations. SigV4
/// verification buffers a body up to this to hash it.
pub const ADMIN_BODY_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Largest `/v2/` (and v1, usage, VPC link, tags, account) request body: one resource.
pub const V2_BODY_MAX_BYTES: usize = 1024 * 1024;
/// Largest body of a domain or certificate call (ACM chains are up to 2 MB, base64).
pub const DOMAINS_BODY_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest OpenAPI definition an import takes: AWS's limit on an imported OpenAPI file.
pub const OPENAPI_DEFINITION_MAX_BYTES: usize = 6 * 1024 * 1024;
/// Items in a v1 page when the caller gives no `limit` (AWS: 25).
pub const PAGE_V1_DEFAULT: usize = 25;
/// Items in a v2 page when the caller gives no `maxResults`.
pub const PAGE_V2_DEFAULT: usize = 100;
/// Largest `limit` / `maxResults` (AWS: 500).
pub const PAGE_MAX: usize = 500;
/// Longest page token accepted, in hex digits (keys are ids of at most a few dozen characters).
pub const PAGE_TOKEN_MAX_CHARS: usize = 256;
/// Longest patch list accepted in one v1 update.
pub const PATCH_OPERATIONS_MAX: usize = 100;
/// Length of a generated API id (AWS: 10 lowercase letters and digits).
pub const API_ID_CHARS: usize = 10;
/// Length of a generated route, integration or deployment id.
pub const CHILD_ID_CHARS: usize = 7;
/// Length of a generated API key or usage plan id (AWS: 10 lowercase letters and digits).
pub const USAGE_ID_CHARS: usize = 10;
/// Longest id the admin API accepts in a path or a document (an imported `apiId` may be up to
/// 63 characters: the first label of a host name).
pub const ID_MAX_CHARS: usize = 63;
/// Longest region name accepted from a credential scope (AWS's are under 20 characters).
pub const REGION_NAME_MAX_CHARS: usize = 32;
/// How often the admin thread looks for replaced snapshots the workers have let go of, ms. It
/// frees them only once no change was published for this long (each publish frees the earlier
/// ones itself), so freeing does not compete with the first requests after a change.
pub const RETIRED_SWEEP_INTERVAL_MS: u64 = 1_000;
/// How long opening the SQLite store waits for another process's lock before failing, ms: long
/// enough for a gateway that is shutting down to let go, short enough to report a second
/// gateway quickly.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// How long connecting to PostgreSQL waits before the store counts as unavailable, ms.
pub const POSTGRES_CONNECT_TIMEOUT_MS: u64 = 2_000;

const _: () = assert!(V2_BODY_MAX_BYTES <= ADMIN_BODY_MAX_BYTES);
const _: () = assert!(DOMAINS_BODY_MAX_BYTES <= ADMIN_BODY_MAX_BYTES);
const _: () = assert!(OPENAPI_DEFINITION_MAX_BYTES <= ADMIN_BODY_MAX_BYTES);
const _: () = assert!(PAGE_V1_DEFAULT <= PAGE_MAX && PAGE_V2_DEFAULT <= PAGE_MAX);
const _: () = assert!(API_ID_CHARS <= ID_MAX_CHARS && CHILD_ID_CHARS <= ID_MAX_CHARS);
const _: () = assert!(USAGE_ID_CHARS <= ID_MAX_CHARS);

// === admin API: REST and HTTP API resources (AWS's quotas) ===

/// Longest description, as AWS.
pub const DESCRIPTION_MAX_CHARS: usize = 1024;
/// Tags per resource, as AWS.
pub const TAGS_MAX: usize = 50;
/// Stage variables per stage, as AWS.
pub const STAGE_VARIABLES_MAX: usize = 100;
/// Longest stage variable name, as AWS.
pub const STAGE_VARIABLE_NAME_MAX_CHARS: usize = 64;
/// Longest stage variable value of a REST API stage, as AWS.
pub const REST_STAGE_VARIABLE_VALUE_MAX_CHARS: usize = 512;
/// Longest stage variable value of an HTTP or WebSocket API stage, as AWS.
pub const HTTP_STAGE_VARIABLE_VALUE_MAX_CHARS: usize = 2048;
/// Resources per REST API (AWS's default quota).
pub const RESOURCES_PER_API_MAX: usize = 300;
/// Stages per REST API (AWS's default quota).
pub const STAGES_PER_API_MAX: usize = 10;
/// Longest model or request validator name.
pub const MODEL_NAME_MAX_CHARS: usize = 128;
/// Models per REST API.
pub const MODELS_PER_API_MAX: usize = 300;
/// Request validators per REST API.
pub const REQUEST_VALIDATORS_PER_API_MAX: usize = 300;
/// Longest model schema, bytes (AWS's limit on a model's schema is 400 KB).
pub const MODEL_SCHEMA_MAX_BYTES: usize = 400 * 1024;
/// Deepest nesting the admin side's model template generator follows (`$ref`s may loop).
pub const MODEL_TEMPLATE_DEPTH_MAX: usize = 16;
/// Largest `minimumCompressionSize`, bytes (AWS: 10 MiB).
pub const MINIMUM_COMPRESSION_SIZE_MAX_BYTES: i64 = 10_485_760;
/// Integration responses per integration and route responses per route of a WebSocket API
/// (AWS: one route response, `$default`; integration responses are a few status patterns).
pub const WS_RESPONSES_MAX: usize = 64;
/// Most API mappings per domain name (AWS: 200).
pub const API_MAPPINGS_PER_DOMAIN_MAX: usize = 200;

const _: () = assert!(REST_STAGE_VARIABLE_VALUE_MAX_CHARS <= HTTP_STAGE_VARIABLE_VALUE_MAX_CHARS);
const _: () = assert!(MINIMUM_COMPRESSION_SIZE_MAX_BYTES as usize <= BODY_MAX_BYTES);
const _: () = assert!(MODEL_SCHEMA_MAX_BYTES <= V2_BODY_MAX_BYTES);

// === admin API: API keys and usage plans ===

/// Shortest and longest API key value `CreateApiKey` accepts (20 to 128 alphanumeric
/// characters, as AWS), and the length of a generated one.
pub const API_KEY_VALUE_MIN_CHARS: usize = 20;
pub const API_KEY_VALUE_MAX_CHARS: usize = 128;
pub const API_KEY_VALUE_GENERATED_CHARS: usize = 40;
/// Longest API key or usage plan name (and API key `customerId`).
pub const USAGE_NAME_MAX_CHARS: usize = 1024;
/// Most per-method throttles on one API stage of a usage plan (AWS's limit).
pub const USAGE_PLAN_METHOD_THROTTLES_MAX: usize = 20;
/// Most API stages in one usage plan.
pub const USAGE_PLAN_API_STAGES_MAX: usize = 100;
/// Longest date range `GetUsage` answers, in days.
pub const USAGE_RANGE_MAX_DAYS: u64 = 366;

const _: () = assert!(API_KEY_VALUE_MIN_CHARS <= API_KEY_VALUE_GENERATED_CHARS);
const _: () = assert!(API_KEY_VALUE_GENERATED_CHARS <= API_KEY_VALUE_MAX_CHARS);

// === admin API: test invocations, metrics, DNS, certificates, VPC links, Lambda ===

/// Largest answer a test invocation reads back from the data plane.
pub const TEST_INVOKE_ANSWER_MAX_BYTES: usize = 16 * 1024 * 1024;
/// How long a test invocation may take (AWS's integration ceiling plus the authorizer's), ms.
pub const TEST_INVOKE_TIMEOUT_MS: u64 = 60_000;
/// Routes that keep their own series in a metrics scrape; the rest are summed into `__other__`.
/// Each route costs 7 counter series and 3 × 24 histogram series.
pub const METRICS_ROUTE_SERIES_MAX: usize = 500;
/// Length of one metrics history interval, ms.
pub const METRICS_HISTORY_INTERVAL_MS: u64 = 1_000;
/// Metrics history intervals kept: five minutes.
pub const METRICS_HISTORY_INTERVALS: usize = 300;
/// Routes kept per metrics history interval (the busiest); the rest of that interval is dropped.
pub const METRICS_HISTORY_ROUTES_MAX: usize = 100;
/// One DNS lookup attempt's bound (per server try), ms.
pub const DNS_QUERY_TIMEOUT_MS: u64 = 1_000;
/// Largest PEM accepted per ACM member (ACM: 32 KB certificate, 2 MB chain, 5 KB key; taken
/// loosely).
pub const ACM_PEM_MAX_BYTES: usize = 2 * 1024 * 1024;
/// ACM's `MaxItems` default and ceiling for `ListCertificates`.
pub const ACM_LIST_MAX: usize = 1000;
/// How often the certificate directory is looked at, ms.
pub const CERTIFICATE_DIR_POLL_MS: u64 = 1_000;
/// Largest certificate file read (a certificate with a long chain; keys are far smaller).
pub const CERTIFICATE_FILE_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Largest truststore file read.
pub const TRUSTSTORE_MAX_BYTES: u64 = 1024 * 1024;
/// How often the VPC link health checker looks for due checks, ms.
pub const VPC_LINK_HEALTH_TICK_MS: u64 = 50;
/// Largest VPC link health check response head read, bytes.
pub const VPC_LINK_HEALTH_RESPONSE_MAX_BYTES: usize = 4096;
/// Longest VPC link name.
pub const VPC_LINK_NAME_MAX_CHARS: usize = 255;
/// Environment variables of one Lambda function: total bytes of keys and values (AWS: 4 KB).
pub const LAMBDA_ENVIRONMENT_MAX_BYTES: usize = 4 * 1024;
/// How often idle Lambda instances are looked at for reaping, ms.
pub const LAMBDA_REAP_INTERVAL_MS: u64 = 5_000;
/// `ListFunctions` page size: default and largest `MaxItems` (AWS: 50 and 10,000).
pub const LAMBDA_LIST_DEFAULT: usize = 50;
pub const LAMBDA_LIST_MAX: usize = 10_000;

const _: () = assert!(METRICS_HISTORY_INTERVALS * METRICS_HISTORY_ROUTES_MAX <= 30_000);
const _: () = assert!(ACM_PEM_MAX_BYTES <= DOMAINS_BODY_MAX_BYTES);
const _: () = assert!(CERTIFICATE_FILE_MAX_BYTES as usize >= ACM_PEM_MAX_BYTES);
const _: () = assert!(VPC_LINK_HEALTH_TICK_MS as u32 <= VPC_LINK_HEALTH_INTERVAL_MIN_MS);
const _: () = assert!(LAMBDA_LIST_DEFAULT <= LAMBDA_LIST_MAX);
const _: () = assert!(LAMBDA_REAP_INTERVAL_MS / 1000 < LAMBDA_IDLE_S);

// === the `portico` command line (admin client) ===

/// Connect, send and read deadline of one admin call from the command line, ms.
pub const CLI_CALL_TIMEOUT_MS: u64 = 10_000;
/// Largest admin answer the command line reads (a large route table's stats).
pub const CLI_RESPONSE_MAX_BYTES: usize = 64 << 20;
/// Intervals `portico top` averages into a rate.
pub const CLI_TOP_RATE_WINDOW_INTERVALS: usize = 5;
/// How often `portico top` refreshes its view, ms.
pub const CLI_TOP_REFRESH_MS: u64 = 1_000;

const _: () = assert!(CLI_TOP_RATE_WINDOW_INTERVALS > 0);
