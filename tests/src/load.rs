//! A fixed-rate load generator for throttling tests: `conns` keep-alive connections, each on
//! its own thread, send requests on a shared schedule (request `i` at `start + i / rps`), so the
//! offered rate is fixed whatever the gateway answers. Bounded: `rps × duration` requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Client, Request};

/// What a run got back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub throttled: u64,
    /// Any other status, or a failed exchange.
    pub other: u64,
    /// Bodies of the 429s seen (deduplicated).
    pub throttle_bodies: Vec<String>,
}

/// Sends `rps × duration` copies of `req` to `addr` at `rps` over `conns` connections.
pub fn fixed_rate(
    addr: SocketAddr,
    req: &Request,
    rps: u64,
    duration: Duration,
    conns: usize,
) -> Tally {
    let total = (rps as f64 * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rps as f64);
    let start = Instant::now() + Duration::from_millis(100);
    let req = Arc::new(req.clone());
    let threads: Vec<_> = (0..conns)
        .map(|t| {
            let req = Arc::clone(&req);
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                let mut client = Client::connect(addr);
                let mut i = t as u64;
                while i < total {
                    let due = start + interval * i as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    match client.try_request(&req) {
                        Ok(r) if r.status == 200 => tally.ok += 1,
                        Ok(r) if r.status == 429 => {
                            tally.throttled += 1;
                            let body = r.text();
                            if !tally.throttle_bodies.contains(&body) {
                                tally.throttle_bodies.push(body);
                            }
                        }
                        Ok(r) => {
                            tally.other += 1;
                            if r.says_close() {
                                client = Client::connect(addr);
                            }
                        }
                        Err(_) => {
                            tally.other += 1;
                            client = Client::connect(addr);
                        }
                    }
                    i += conns as u64;
                }
                tally
            })
        })
        .collect();
    let mut sum = Tally::default();
    for t in threads {
        let t = t.join().expect("load thread panicked");
        sum.ok += t.ok;
        sum.throttled += t.throttled;
        sum.other += t.other;
        for b in t.throttle_bodies {
            if !sum.throttle_bodies.contains(&b) {
                sum.throttle_bodies.push(b);
            }
        }
    }
    sum
}
