//! Portico's data plane: thread-per-core monoio workers that accept downstream HTTP/1.1
//! connections, run each request through the pipeline and call upstreams.
//!
//! ```text
//! accept (worker.rs) → read + parse (conn.rs, http1/) → pipeline::handle
//!   [stages/ (resolve, authorize, admit, cache, validate) → invoke (integration/, upstream.rs)]
//!   → write (conn.rs, respond.rs) → observe
//! ```
//!
//! Architecture invariants:
//! - Workers never lock, never block and never wait on the admin side: configuration arrives as
//!   an immutable [`portico_shared::Snapshot`] behind an `ArcSwap`.
//! - Per-core state (upstream pools, stats) is keyed by stable ids and survives snapshot swaps.
//! - The stage order exists only in [`pipeline`].

pub mod access_log;
pub mod buffers;
pub mod config;
pub mod conn;
pub mod cors;
pub mod deadline;
pub mod downstream;
pub mod error;
pub mod http1;
pub mod integration;
pub mod log_writer;
pub mod observe;
pub mod pipeline;
pub mod request;
pub mod request_id;
pub mod respond;
pub mod runtime;
pub mod shutdown;
pub mod snapshots;
pub mod stages;
pub mod sys;
pub mod text;
pub mod tls;
pub mod trace;
pub mod upstream;
pub mod upstream_tls;
pub mod worker;
pub mod ws;

pub use config::DataPlaneConfig;
pub use runtime::{spawn_workers, Driver, WorkerSet};
