//! Criterion benchmarks for API key lookup and memory per key.
//!
//! Groups and IDs:
//! - `keys/hit/{10,1000000}`: looking up a key that exists, cycling over the same number (8) of
//!   different keys in tables of 10 and 1,000,000 keys. The table is 256 shards of hash maps
//!   keyed by a SipHash of the value: one hash, one probe, one constant-time comparison, so a
//!   lookup costs the same whatever the table size (acceptance: 1,000,000 / 10 about 1x).
//! - `keys/hit_spread/1000000`: cycling over 1,024 keys spread over the 1,000,000-key table: the
//!   same work plus the cache and TLB misses of a working set spread over ~190 MiB.
//! - `keys/miss/{10,1000000}`: a value no key has (what a guessing client costs).
//! - `keys/add_one/1000000`: publishing one more key into a 1,000,000-key table (copies one
//!   shard of 256; the route structure is not touched: keys live in their own `Arc`).
//!
//! Also prints the resident memory per key (RSS growth while building 1,000,000 keys).
//!
//! Run: `cargo bench -p portico-benches --bench keys -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use portico_shared::keys::{KeyEntry, KeyTable};

const SIZES: [usize; 2] = [10, 1_000_000];

/// Distinct keys the `hit` lookups cycle through (the same for every table size).
const HOT: usize = 8;

/// Distinct keys the `hit_spread` lookups cycle through.
const SPREAD: usize = 1024;

/// A 40-character value, as generated keys are.
fn value(i: usize) -> String {
    format!("k{i:039}")
}

fn table(n: usize) -> KeyTable {
    KeyTable::build((0..n).map(|i| {
        Arc::new(KeyEntry::new(
            &format!("id{i}"),
            &value(i),
            true,
            Vec::new(),
        ))
    }))
}

/// Resident set size, bytes (Linux `/proc/self/statm`).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn bench_keys(c: &mut Criterion) {
    let before = rss_bytes();
    let big = table(1_000_000);
    let after = rss_bytes();
    eprintln!(
        "keys: 1,000,000 keys: RSS +{:.1} MiB, {} bytes per key",
        (after - before) as f64 / (1024.0 * 1024.0),
        (after - before) / 1_000_000
    );
    let mut group = c.benchmark_group("keys");
    for n in SIZES {
        let t = if n == 1_000_000 {
            big.clone()
        } else {
            table(n)
        };
        let cycle = if n == 1_000_000 {
            vec![HOT, SPREAD]
        } else {
            vec![HOT]
        };
        for count in cycle {
            let values: Vec<String> = (0..count).map(|i| value((i * 7919) % n)).collect();
            for v in &values {
                assert!(t.get(v.as_bytes()).is_some(), "every looked-up key exists");
            }
            let id = if count == HOT { "hit" } else { "hit_spread" };
            group.bench_with_input(BenchmarkId::new(id, n), &n, |b, _| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % count;
                    black_box(t.get(black_box(values[i].as_bytes())))
                })
            });
        }
        let miss = "x".repeat(40);
        assert!(t.get(miss.as_bytes()).is_none());
        group.bench_with_input(BenchmarkId::new("miss", n), &n, |b, _| {
            b.iter(|| black_box(t.get(black_box(miss.as_bytes()))))
        });
    }
    let one = Arc::new(KeyEntry::new("new", &value(2_000_000), true, Vec::new()));
    group.bench_function(BenchmarkId::new("add_one", 1_000_000), |b| {
        b.iter(|| black_box(big.with(Arc::clone(&one))))
    });
    group.finish();
}

criterion_group!(benches, bench_keys);
criterion_main!(benches);
