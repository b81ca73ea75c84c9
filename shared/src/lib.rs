//! Portico's shared core: the configuration model (the wire shapes the admin API stores), the
//! compiler ([`compile`]) and the compiled, immutable [`Snapshot`] the data plane reads, the
//! router, limits and stats types.
//!
//! Architecture invariant: this crate has no async and starts no threads, and its only I/O
//! (environment reads, host name lookups at compile time) is in [`system`] (enforced by
//! `tests/tidy.rs`). It is the contract between the control plane (`admin`, which compiles and
//! publishes snapshots) and the data plane (`dataplane`, which only reads them).

pub mod access_log;
pub mod authorizer;
pub mod aws;
pub mod cache;
pub mod clock;
pub mod cluster;
pub mod compile;
pub mod cors;
pub mod dns;
pub mod domain;
pub mod functions;
pub mod gateway_response;
pub mod iam;
pub mod jwt;
pub mod keys;
pub mod lambda;
pub mod lease;
pub mod limits;
pub mod mapping;
pub mod model;
pub mod path;
pub mod percent;
pub mod quota;
mod rest;
pub mod router;
pub mod sigv4;
pub mod snapshot;
pub mod stats;
pub mod system;
pub mod template;
pub mod throttle;
pub mod validation;
pub mod vpc_link;
pub mod vtl;
pub mod websocket;
pub mod x509;

pub use snapshot::Snapshot;
