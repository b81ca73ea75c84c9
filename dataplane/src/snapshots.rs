//! A worker's view of the published snapshot: one atomic load per look when nothing changed,
//! and the snapshot in use shared with the worker's tasks through an `Rc` (no atomics).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use portico_shared::Snapshot;

/// The published snapshot, as one worker reads it.
#[derive(Debug)]
pub struct Snapshots {
    /// Reads the published snapshot with one atomic load when nothing changed.
    cache: RefCell<Cache<Arc<ArcSwap<Snapshot>>, Arc<Snapshot>>>,
    /// The snapshot in use, shared with this worker's tasks without atomics: cloning an `Rc`
    /// per request instead of an `Arc` keeps every core off the snapshot's shared counter.
    #[allow(clippy::redundant_allocation)]
    current: RefCell<Rc<Arc<Snapshot>>>,
}

impl Snapshots {
    pub fn new(cell: Arc<ArcSwap<Snapshot>>) -> Snapshots {
        Snapshots {
            current: RefCell::new(Rc::new(cell.load_full())),
            cache: RefCell::new(Cache::new(cell)),
        }
    }

    /// The current snapshot. One atomic load when unchanged; no lock.
    #[allow(clippy::redundant_allocation)]
    pub fn get(&self) -> Rc<Arc<Snapshot>> {
        let mut cache = self.cache.borrow_mut();
        let latest = cache.load();
        let mut current = self.current.borrow_mut();
        if !Arc::ptr_eq(latest, &current) {
            *current = Rc::new(Arc::clone(latest));
        }
        Rc::clone(&current)
    }
}
