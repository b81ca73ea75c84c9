//! The node side of shared buckets (`lease.rs`), with a link that records requests instead of
//! calling Redis. Its own test binary: installing the process-wide link here does not make the
//! library's unit tests' buckets shared.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use portico_shared::lease::{self, LeaseSink, Pool};
use portico_shared::throttle::{Bucket, Limits};

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Arc<Pool>>>);

#[derive(Debug)]
struct Sink(&'static Recorder);

impl LeaseSink for Sink {
    fn want(&self, pool: &Arc<Pool>) {
        self.0 .0.lock().expect("lock").push(Arc::clone(pool));
    }
}

const SEC: u64 = 1_000_000_000;

#[test]
fn a_shared_bucket_spends_leases_never_waits_and_falls_back_when_redis_is_down() {
    let rec: &'static Recorder = Box::leak(Box::default());
    let asked = || rec.0.lock().expect("lock").len();
    let link = lease::install(Box::new(Sink(rec)));
    let limits = Limits {
        rate: 100.0,
        burst: 50,
    };
    let b = Bucket::new(limits).shared_as("plan/p/k");
    let pool = Arc::clone(b.pool().expect("shared"));
    // L = min(100 × 50 ms, 50 / 4) = 5.
    assert_eq!(pool.lease, 5);

    // Cold: one lease on credit, one request for a lease (not one per request), then refused.
    let admitted = (0..20).filter(|i| b.try_acquire(0, i * 1000)).count();
    assert_eq!(admitted, 5);
    assert_eq!(pool.held(), -5);
    assert_eq!(asked(), 1, "one lease request in flight");
    // The lease repays the credit first: what is held never leaves [-L, L].
    assert_eq!(pool.wanted(), 10);
    pool.granted(10, 0);
    assert_eq!(pool.held(), 5);
    let admitted = (0..20).filter(|i| b.try_acquire(0, SEC + i * 1000)).count();
    assert_eq!(admitted, 5, "warm: no more credit");
    assert!(asked() >= 2, "asked again when low");

    // A short lease holds further requests off for the backoff the script named.
    pool.granted(0, SEC);
    let before = asked();
    assert!(!b.try_acquire(0, SEC + 100_000));
    assert_eq!(asked(), before, "within the backoff: no request");

    // Reclaimed after the window: the tokens go back, the pool is cold again.
    pool.granted(3, 0);
    assert_eq!(pool.reclaim(), 3);
    assert_eq!(pool.held(), 0);

    // Redis down, 3 live nodes: 100/3 rps, burst ⌈50/3⌉ = 17 on this node alone.
    link.live_nodes.store(3, Ordering::Relaxed);
    link.up.store(false, Ordering::Relaxed);
    let t0 = 10 * SEC;
    let burst = (0..100).filter(|_| b.try_acquire(0, t0)).count();
    assert_eq!(burst, 17);
    let step = SEC / 300;
    let later = (1..=3000u64)
        .filter(|i| b.try_acquire(0, t0 + i * step))
        .count();
    assert!((330..=335).contains(&later), "10 s at 100/3 rps: {later}");
    link.up.store(true, Ordering::Relaxed);
}
