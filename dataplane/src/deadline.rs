//! One reusable timer per connection (and per upstream call) instead of one timer per I/O
//! operation, on a per-core timer of Portico's own.
//!
//! # Architecture
//! 1. A [`Deadline`] holds a plain `Instant`, the end of the current phase (idle, head read,
//!    body read, response write, upstream exchange), and a slot in its core's timer table.
//!    Starting a phase ([`Deadline::set`]) writes that `Instant`; the table is touched only when
//!    the slot must fire *earlier* than it is armed for.
//! 2. The slot may fire before the phase ends (it was armed for an earlier phase): then
//!    [`Deadline::within`] re-arms it for the phase's end and keeps waiting. So on a keep-alive
//!    connection the table is touched about once per timer period, not three times per request.
//! 3. [`Deadline::within`] polls an operation that the caller pinned in place: the operation's
//!    future is never moved into a wrapper.
//! 4. The table is a min-heap of (when, slot) and a slab of slots (a waker, when it is armed);
//!    one task per core ([`spawn_driver`]) sleeps on one monoio timer until the earliest entry
//!    and wakes the slots that are due. A slot is 40 bytes. Why not monoio's `Sleep` per
//!    connection: its timer entry is 512 bytes, cache-line aligned, which alone was half of an
//!    idle connection's memory budget (issue 22); nginx keeps its timers in the connection, too.
//!    Entries of freed or re-armed slots stay in the heap until due (checked by generation),
//!    and the heap is compacted when they outnumber the live ones.
//!
//! Invariants: a slot never fires later than its phase's end (it is armed at or before it); an
//! operation is abandoned once `Instant::now()` has reached the phase's end. A `Deadline` is
//! polled by one task at a time (the slot keeps the last waker it was polled with). An HTTP
//! integration's upstream exchange runs on the connection's task and is one more phase of its
//! deadline (`integration::send` with `Some(deadline)`); exchanges on other tasks (WebSocket
//! routes) and VPC link pools pin a timer per exchange instead (`UpstreamCall::exchange_until`).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The end of the current phase of a connection or upstream call, and its timer slot.
#[derive(Debug)]
pub struct Deadline {
    /// When the current phase must be over.
    at: Instant,
    /// The slot in this core's timer table, and its generation when taken.
    slot: u32,
    generation: u32,
    /// Not `Send`: the slot means something only on the thread whose table holds it.
    _core: std::marker::PhantomData<*const ()>,
}

// === impl Deadline ===

impl Deadline {
    /// A deadline whose first phase ends `after` from now. Fires only on a thread whose
    /// runtime runs [`spawn_driver`]'s task.
    pub fn after(after: Duration) -> Deadline {
        let at = Instant::now() + after;
        let (slot, generation) = TIMERS.with(|t| t.borrow_mut().take_slot());
        Deadline {
            at,
            slot,
            generation,
            _core: std::marker::PhantomData,
        }
    }

    /// Starts a phase that must be over by `at`.
    pub fn set(&mut self, at: Instant) {
        // The slot is armed (earlier, if need be) when the next operation waits.
        self.at = at;
    }

    /// Starts a phase that must be over `after` from now.
    pub fn set_after(&mut self, after: Duration) {
        self.set(Instant::now() + after);
    }

    /// The end of the current phase.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// Polls `op` (pinned by the caller, so it is not moved) until it completes (`Some`) or the
    /// current phase ends (`None`; the caller drops `op`, which cancels it).
    pub fn within<'a, F: Future>(
        &'a mut self,
        mut op: Pin<&'a mut F>,
    ) -> impl Future<Output = Option<F::Output>> + 'a {
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(out) = op.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            match self.poll_expired(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Ready once the current phase has ended.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        TIMERS.with(|t| {
            t.borrow_mut()
                .poll_slot(self.slot, self.generation, self.at, cx)
        })
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // `try_with`: a deadline dropped while the thread's locals are torn down has nothing
        // left to release.
        let _ = TIMERS.try_with(|t| t.borrow_mut().release(self.slot, self.generation));
    }
}

thread_local! {
    /// This core's timer table. Thread-local because a worker is one thread with one runtime,
    /// and deadlines are made deep in the stages (upstream calls) without the worker at hand.
    static TIMERS: RefCell<Timers> = RefCell::new(Timers::default());
}

/// A core's timer table.
#[derive(Debug, Default)]
struct Timers {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// (when, slot, generation), earliest first.
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Heap entries that will be skipped (slot freed, or re-armed earlier) when due.
    stale: usize,
    /// The driver task's waker, and the instant its timer is set for (`None`: no entries).
    driver: Option<Waker>,
    driver_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    /// The heap entry that will fire for this slot, if any.
    armed: Option<Instant>,
    /// The armed entry came due since the slot was last polled.
    fired: bool,
    waker: Option<Waker>,
}

// === impl Timers ===

impl Timers {
    fn take_slot(&mut self) -> (u32, u32) {
        match self.free.pop() {
            Some(i) => (i, self.slots[i as usize].generation),
            None => {
                let i = u32::try_from(self.slots.len()).expect("fewer than 2^32 timers");
                self.slots.push(Slot::default());
                (i, 0)
            }
        }
    }

    fn release(&mut self, slot: u32, generation: u32) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if s.generation != generation {
            return;
        }
        s.generation = s.generation.wrapping_add(1);
        if s.armed.take().is_some() {
            self.stale += 1;
        }
        s.fired = false;
        s.waker = None;
        self.free.push(slot);
    }

    /// The slot's phase ends at `at`: ready if it has, else armed at or before `at` with the
    /// caller's waker.
    fn poll_slot(&mut self, slot: u32, generation: u32, at: Instant, cx: &Context<'_>) -> Poll<()> {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return Poll::Ready(());
        };
        if s.generation != generation {
            // Released under a live deadline: cannot happen (only `Drop` releases).
            return Poll::Ready(());
        }
        if std::mem::take(&mut s.fired) && Instant::now() >= at {
            return Poll::Ready(());
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        if s.armed.is_some_and(|armed| armed <= at) {
            return Poll::Pending;
        }
        if s.armed.replace(at).is_some() {
            self.stale += 1;
        }
        self.heap.push(Reverse((at, slot, generation)));
        if self.driver_until.is_none_or(|until| at < until) {
            // The driver sleeps past this entry (or not at all): it sets its timer again.
            self.driver_until = Some(at);
            if let Some(driver) = self.driver.take() {
                driver.wake();
            }
        }
        if self.stale > portico_shared::limits::TIMER_STALE_ENTRIES_MAX
            && self.stale > self.heap.len() / 2
        {
            self.compact();
        }
        Poll::Pending
    }

    /// Drops the heap entries that would be skipped.
    fn compact(&mut self) {
        let slots = &self.slots;
        self.heap.retain(|Reverse((at, slot, generation))| {
            let s = &slots[*slot as usize];
            s.generation == *generation && s.armed == Some(*at)
        });
        self.stale = 0;
    }

    /// Fires the entries due at `now` (their wakers go to `due`); the next entry's instant.
    fn expire(&mut self, now: Instant, due: &mut Vec<Waker>) -> Option<Instant> {
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if at > now {
                return Some(at);
            }
            self.heap.pop();
            let s = &mut self.slots[slot as usize];
            if s.generation != generation || s.armed != Some(at) {
                self.stale = self.stale.saturating_sub(1);
                continue;
            }
            s.armed = None;
            s.fired = true;
            if let Some(w) = s.waker.take() {
                due.push(w);
            }
        }
        None
    }
}

/// Starts this core's timer task: every [`Deadline`] made on this thread fires through it. Call
/// once per runtime, before any deadline waits.
pub fn spawn_driver() {
    TIMERS.with(|t| {
        let mut t = t.borrow_mut();
        // A runtime that ran on this thread before left its driver's waker behind.
        t.driver = None;
        t.driver_until = None;
    });
    monoio::spawn(drive());
}

/// The timer task: sleeps on one monoio timer until the earliest entry, wakes what is due.
async fn drive() {
    let far = || monoio::time::Instant::now() + Duration::from_secs(3600);
    let mut sleep = Box::pin(monoio::time::sleep_until(far()));
    let mut due: Vec<Waker> = Vec::new();
    std::future::poll_fn(|cx| loop {
        let next = TIMERS.with(|t| {
            let mut t = t.borrow_mut();
            let next = t.expire(Instant::now(), &mut due);
            t.driver_until = next;
            match &t.driver {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => t.driver = Some(cx.waker().clone()),
            }
            next
        });
        // Woken outside the table's borrow: a woken task may run a deadline's `Drop`.
        for w in due.drain(..) {
            w.wake();
        }
        let until = match next {
            Some(at) => monoio::time::Instant::from_std(at),
            None => far(),
        };
        if sleep.deadline() != until {
            sleep.as_mut().reset(until);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::<()>::Pending;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    /// Runs `f` on a fresh runtime with this thread's timer task.
    fn run<F: Future>(f: F) -> F::Output {
        runtime().block_on(async {
            spawn_driver();
            f.await
        })
    }

    #[test]
    fn an_operation_that_outlives_its_phase_is_abandoned() {
        run(async {
            let mut d = Deadline::after(Duration::from_millis(30));
            let started = Instant::now();
            let op = std::pin::pin!(monoio::time::sleep(Duration::from_secs(5)));
            assert_eq!(d.within(op).await, None);
            let took = started.elapsed();
            assert!(took >= Duration::from_millis(30), "{took:?}");
            assert!(took < Duration::from_secs(2), "{took:?}");
        });
    }

    #[test]
    fn a_later_phase_outlives_the_timer_armed_for_an_earlier_one() {
        run(async {
            // Armed for 20 ms, then the phase is extended to 120 ms: the timer fires early,
            // re-arms, and the operation (80 ms) completes.
            let mut d = Deadline::after(Duration::from_millis(20));
            d.set_after(Duration::from_millis(120));
            let op = std::pin::pin!(async {
                monoio::time::sleep(Duration::from_millis(80)).await;
                7
            });
            assert_eq!(d.within(op).await, Some(7));
        });
    }

    #[test]
    fn an_earlier_phase_moves_the_timer() {
        run(async {
            let mut d = Deadline::after(Duration::from_secs(60));
            d.set_after(Duration::from_millis(20));
            let started = Instant::now();
            let op = std::pin::pin!(monoio::time::sleep(Duration::from_secs(5)));
            assert_eq!(d.within(op).await, None);
            assert!(started.elapsed() < Duration::from_secs(2));
            // Reused for the next phase after firing.
            d.set_after(Duration::from_millis(200));
            let op = std::pin::pin!(async { 1 });
            assert_eq!(d.within(op).await, Some(1));
        });
    }

    #[test]
    fn many_deadlines_fire_each_at_its_own_end_and_freed_ones_never() {
        run(async {
            // 300 connections' deadlines, 1..=300 ms apart in reverse order of creation; every
            // other one is dropped while armed (its heap entry goes stale).
            let started = Instant::now();
            let mut waits = Vec::new();
            for i in (1..=300u64).rev() {
                let mut d = Deadline::after(Duration::from_millis(i));
                let op = Box::pin(std::future::pending::<()>());
                waits.push(monoio::spawn(async move {
                    let mut op = op;
                    assert_eq!(d.within(op.as_mut()).await, None);
                    let took = started.elapsed();
                    assert!(took >= Duration::from_millis(i), "{i}: {took:?}");
                    took
                }));
            }
            let doomed: Vec<_> = (0..300)
                .map(|_| Deadline::after(Duration::from_millis(50)))
                .collect();
            // Armed, then freed.
            for mut d in doomed {
                let op = std::pin::pin!(std::future::pending::<()>());
                let mut waiting = std::pin::pin!(d.within(op));
                std::future::poll_fn(|cx| {
                    assert!(waiting.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            TIMERS.with(|t| assert!(t.borrow().stale >= 300));
            for w in waits {
                let took = w.await;
                assert!(took < Duration::from_secs(5), "{took:?}");
            }
            TIMERS.with(|t| {
                let t = t.borrow();
                assert!(t.heap.is_empty(), "{} entries left", t.heap.len());
            });
        });
    }
}
