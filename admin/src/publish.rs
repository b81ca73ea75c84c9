//! Publishing: the store a change is committed to, the cell the data plane reads, and the
//! generation and retired snapshots that go with it. Every domain's operations (usage, IAM,
//! custom domains, VPC links, the account, REST and HTTP APIs) commit and publish through a
//! [`Publisher`] they are handed, so none of them needs the catalog that holds them all.
//!
//! # Architecture
//! 1. An operation validates against its own state, then [`Publisher::commit`]s its store
//!    changes (durable when it returns; an error changes nothing), then changes its state.
//! 2. [`Publisher::publish`] swaps in the next snapshot, built from the one served:
//!    `cell.store(next(current, generation + 1))`.
//! 3. The snapshot a publish replaces goes to [`Retired`], not to the workers: a worker that
//!    moves to the new snapshot only drops a reference, and the admin side frees the old one (a
//!    10,000-route router is thousands of allocations, milliseconds of `free`) once no worker
//!    holds it: at the next publish, or by a timer once changes have stopped for a while.
//!
//! Invariants: the publisher sits inside the catalog, behind its one lock, so publishes run one
//! at a time; the cell only ever holds compiled output; workers never free a replaced snapshot.

use std::sync::{Arc, Mutex};

use portico_shared::compile::{CompileContext, ConfigError};
use portico_shared::Snapshot;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::{Change, Kind, Row, Store};
use crate::SnapshotCell;

/// The store, the served cell and the compiler's context: what an operation needs to make its
/// change durable and visible.
#[derive(Debug)]
pub(crate) struct Publisher {
    /// The source of truth; every change is committed here before it is published.
    pub(crate) store: Arc<dyn Store>,
    /// What the data plane reads.
    pub(crate) cell: SnapshotCell,
    /// The last published generation; the next publish uses one more.
    pub(crate) generation: u64,
    /// Replaced snapshots, freed here once the workers let go of them.
    pub(crate) retired: Retired,
    /// Throttle buckets kept across recompiles, the worker count, and the VPC links and
    /// self-hosted functions integrations may name.
    pub(crate) ctx: CompileContext,
}

// === impl Publisher ===

impl Publisher {
    /// Commits `changes` to the store in one transaction.
    pub(crate) fn commit(&self, changes: &[Change]) -> Result<(), ApiError> {
        self.store.commit(changes).map_err(ApiError::from)
    }

    /// The store, for reads (usage history) and for operations that commit themselves.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The snapshot the data plane serves.
    pub(crate) fn served(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }

    /// The compiler's context.
    pub(crate) fn compile_context(&mut self) -> &mut CompileContext {
        &mut self.ctx
    }

    /// Swaps in the next snapshot. Callers hold the catalog (one publish at a time).
    pub(crate) fn publish(&mut self, next: impl FnOnce(&Snapshot, u64) -> Snapshot) {
        let generation = self.generation + 1;
        let current = self.cell.load_full();
        let snapshot = next(&current, generation);
        debug_assert_eq!(snapshot.generation, generation);
        drop(current);
        let old = self.cell.swap(Arc::new(snapshot));
        self.generation = generation;
        self.retired.retire(old);
    }
}

/// Snapshots taken out of the cell that some worker may still hold. [`Retired::sweep`] drops
/// those only this list still references, on the caller's (admin) thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Retired {
    snapshots: Arc<Mutex<RetiredList>>,
}

#[derive(Debug, Default)]
struct RetiredList {
    snapshots: Vec<Arc<Snapshot>>,
    /// When the last snapshot was retired: the idle sweep leaves a burst of changes alone (each
    /// publish sweeps anyway), so freeing never competes with the requests right after a change.
    last_retired: Option<std::time::Instant>,
}

// === impl Retired ===

impl Retired {
    /// Keeps `old` until no worker holds it; frees the earlier ones no worker holds any more.
    pub(crate) fn retire(&self, old: Arc<Snapshot>) {
        let mut list = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        list.snapshots.retain(|s| Arc::strong_count(s) > 1);
        list.snapshots.push(old);
        list.last_retired = Some(std::time::Instant::now());
    }

    /// Frees the snapshots no worker holds any more, if nothing was retired for `quiet`;
    /// returns how many are still kept.
    pub(crate) fn sweep_when_quiet(&self, quiet: std::time::Duration) -> usize {
        let mut list = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        if list.last_retired.is_some_and(|t| t.elapsed() >= quiet) {
            list.snapshots.retain(|s| Arc::strong_count(s) > 1);
        }
        list.snapshots.len()
    }
}

/// A compile failure as the caller sees it: 400 listing every problem.
pub(crate) fn compile_error(errors: Vec<ConfigError>) -> ApiError {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    ApiError::invalid(&list)
}

/// A record as a store row of `api_id` (or another scope): `doc` is its JSON. Shared by the
/// HTTP API, REST API (`v1/state.rs`) and usage (`usage/ops.rs`) catalogs.
pub(crate) fn row(api_id: &str, kind: Kind, id: &str, doc: &impl Serialize) -> Row {
    Row {
        api_id: api_id.to_string(),
        kind,
        id: id.to_string(),
        // Records are structs of strings, numbers, booleans and string-keyed maps.
        doc: serde_json::to_string(doc).expect("records serialize: string keys only"),
    }
}

/// The deletion of the row `kind`/`id` of `api_id` (or another scope).
pub(crate) fn deletion(api_id: &str, kind: Kind, id: &str) -> Change {
    Change::Delete {
        api_id: api_id.to_string(),
        kind,
        id: id.to_string(),
    }
}

/// A stored record, parsed; a row that does not parse is a 500 naming it.
pub(crate) fn parse_doc<T: for<'de> Deserialize<'de>>(row: &Row) -> Result<T, ApiError> {
    serde_json::from_str(&row.doc).map_err(|e| {
        ApiError::Internal(format!(
            "stored {} {}/{} is corrupt: {e}",
            row.kind.as_str(),
            row.api_id,
            row.id
        ))
    })
}

/// The store an atomic batch (`Catalog::atomically`) batch writes to: it keeps the changes for one commit
/// at the end and reads through to the real store.
#[derive(Debug)]
pub(crate) struct BufferStore {
    inner: Arc<dyn Store>,
    changes: Mutex<Vec<Change>>,
}

impl BufferStore {
    pub(crate) fn new(inner: Arc<dyn Store>) -> BufferStore {
        BufferStore {
            inner,
            changes: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Store for BufferStore {
    fn data_dir(&self) -> Option<&std::path::Path> {
        self.inner.data_dir()
    }

    fn load_code(
        &self,
        function: &str,
        revision: &str,
    ) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        self.inner.load_code(function, revision)
    }

    fn load(&self) -> Result<Vec<Row>, crate::store::StoreError> {
        self.inner.load()
    }

    fn commit(&self, changes: &[Change]) -> Result<(), crate::store::StoreError> {
        self.changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(changes);
        Ok(())
    }

    fn put_usage(&self, rows: &[crate::store::UsageRow]) -> Result<(), crate::store::StoreError> {
        self.inner.put_usage(rows)
    }

    fn load_usage(
        &self,
        plan_id: &str,
        from_day: u64,
        to_day: u64,
    ) -> Result<Vec<crate::store::UsageRow>, crate::store::StoreError> {
        self.inner.load_usage(plan_id, from_day, to_day)
    }
}
