//! A worker's per-core state: what one core's connections share. It lives on that core's
//! thread; tasks hold it through `Rc`. The threads, runtimes and accept loops that create and
//! run it are in `runtime.rs`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use portico_shared::Snapshot;

use crate::config::DataPlaneConfig;
use crate::observe::LocalStats;
use crate::request_id::RequestIds;
use crate::shutdown::Shutdown;
use crate::snapshots::Snapshots;
use crate::stages::admit::AdmitState;
use crate::upstream::{Calls, Pool, UpstreamCall};

/// Per-core state. Lives on one thread; tasks share it through `Rc`.
#[derive(Debug)]
pub struct Worker {
    pub id: usize,
    pub cfg: Arc<DataPlaneConfig>,
    /// Port of the downstream listener, for `X-Forwarded-Port`.
    pub local_port: u16,
    /// Port of the TLS listener (`--tls-listen`), for `X-Forwarded-Port`; 0 without one.
    pub tls_port: u16,
    /// The published snapshot, as this worker reads it.
    pub snapshots: Snapshots,
    pub ids: RequestIds,
    pub pool: Pool,
    /// Admission's state of this core (see `stages/admit.rs`).
    pub admit: AdmitState,
    /// REST response cache shards and the keys being fetched (see `stages/cache.rs`).
    pub responses: crate::stages::cache::Caches,
    /// Lambda authorizer decisions of this core (see `stages/authorize/lambda.rs`).
    pub authorizers: crate::stages::authorize::lambda::DecisionCache,
    /// JWT and user pool tokens this core verified (see `stages/authorize/jwt.rs`).
    pub tokens: crate::stages::authorize::jwt::VerifiedTokens,
    pub stats: RefCell<LocalStats>,
    /// Requests between head parsed and response written.
    pub in_flight: Cell<usize>,
    /// The canary split's generator (`resolve::roll`), seeded per worker.
    pub rng: Cell<u64>,
    pub shutdown: Shutdown,
    /// WebSocket connections on this core and the inbox other cores reach them through.
    pub ws: crate::ws::Registry,
    /// Free upstream exchanges: no allocation per request in steady state.
    pub calls: Calls,
    pub bufs: crate::buffers::Buffers,
    /// Free header span lists: a connection holds one only while it has a request.
    pub spans: crate::buffers::Buffers<(crate::http1::parse::Span, crate::http1::parse::Span)>,
    /// Blocks for the connections' per-request futures, reused whole.
    pub boxes: crate::sys::Boxes,
}

// === impl Worker ===

impl Worker {
    /// The port a connection came in on: the TLS listener's or the plain one's.
    pub fn listener_port(&self, tls: bool) -> u16 {
        if tls {
            self.tls_port
        } else {
            self.local_port
        }
    }

    /// The current snapshot. One atomic load when unchanged; no lock.
    #[allow(clippy::redundant_allocation)]
    pub fn snapshot(&self) -> Rc<Arc<Snapshot>> {
        self.snapshots.get()
    }

    /// What the integrations may use of this worker.
    pub fn upstreams(&self) -> crate::integration::Upstreams<'_> {
        crate::integration::Upstreams {
            id: self.id,
            cfg: &self.cfg,
            pool: &self.pool,
            bufs: &self.bufs,
        }
    }

    pub fn take_call(&self) -> UpstreamCall {
        self.calls.take()
    }

    pub fn give_call(&self, call: UpstreamCall) {
        self.calls.give(call)
    }
}

/// What the WebSocket code uses of this worker (see [`crate::ws::Core`]).
impl crate::ws::Host for Worker {
    fn core(&self) -> crate::ws::Core<'_> {
        crate::ws::Core {
            id: self.id,
            cfg: &self.cfg,
            snapshots: &self.snapshots,
            ids: &self.ids,
            pool: &self.pool,
            authorizers: &self.authorizers,
            stats: &self.stats,
            in_flight: &self.in_flight,
            shutdown: &self.shutdown,
            ws: &self.ws,
            bufs: &self.bufs,
            calls: &self.calls,
        }
    }
}
