//! Portico's shared core: the configuration model (the wire shapes the admin API stores), the
//! compiled, immutable [`Snapshot`] the data plane reads, the router, limits and stats types.
//!
//! Architecture invariant: this crate does no I/O, has no async and starts no threads. It is the
//! contract between the control plane (`admin`, which compiles and publishes snapshots) and the
//! data plane (`dataplane`, which only reads them).

pub mod cache;
pub mod clock;
pub mod cors;
pub mod gateway_response;
pub mod jwt;
pub mod keys;
pub mod limits;
pub mod mapping;
pub mod model;
pub mod quota;
mod rest;
pub mod router;
pub mod sigv4;
pub mod snapshot;
pub mod stats;
pub mod template;
pub mod throttle;
pub mod validation;
pub mod websocket;

pub use snapshot::Snapshot;
