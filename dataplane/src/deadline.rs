//! One reusable timer per connection (and per upstream call) instead of one timer per I/O
//! operation.
//!
//! # Architecture
//! 1. A [`Deadline`] owns one monoio `Sleep` for its whole life and a plain `Instant`, the end
//!    of the current phase (idle, head read, body read, response write, upstream exchange).
//!    Starting a phase ([`Deadline::set`]) writes that `Instant`; it touches the timer wheel only
//!    when the phase ends *earlier* than the timer is armed for.
//! 2. The timer may fire before the phase ends (it was armed for an earlier phase): then
//!    [`Deadline::within`] re-arms it for the phase's end and keeps waiting. So on a keep-alive
//!    connection the wheel is touched about once per timer period, not three times per request.
//! 3. [`Deadline::within`] polls an operation that the caller pinned in place: the operation's
//!    future is never moved into a wrapper (monoio's `Timeout<F>` holds `F` beside a cache-padded
//!    timer entry, and nested ones copied whole request futures around on every call).
//!
//! Invariants: the timer never fires later than the phase's end (it is armed at or before it);
//! an operation is abandoned once `Instant::now()` has reached the phase's end. A `Deadline` is
//! polled by one task only: monoio's timer keeps the first waker it was polled with until it
//! fires, so a deadline handed to another task would wake the wrong one. An HTTP integration's
//! upstream exchange runs on the connection's task and is one more phase of its deadline
//! (`integration::send` with `Some(deadline)`); exchanges on other tasks (WebSocket routes) and
//! VPC link pools pin a timer per exchange instead (`UpstreamCall::exchange_until`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use monoio::time::Sleep;

/// The end of the current phase of a connection or upstream call, and its one timer.
#[derive(Debug)]
pub struct Deadline {
    /// When the current phase must be over.
    at: Instant,
    /// Armed at or before `at`; boxed once so the connection's futures stay small and the
    /// timer entry (pinned in the wheel's lists) never moves.
    timer: Pin<Box<Sleep>>,
}

// === impl Deadline ===

impl Deadline {
    /// A deadline whose first phase ends `after` from now. Needs a monoio runtime with timers.
    pub fn after(after: Duration) -> Deadline {
        let at = Instant::now() + after;
        Deadline {
            at,
            timer: Box::pin(monoio::time::sleep_until(monoio::time::Instant::from_std(
                at,
            ))),
        }
    }

    /// Starts a phase that must be over by `at`.
    pub fn set(&mut self, at: Instant) {
        self.at = at;
        if self.timer.deadline().into_std() > at {
            // Only an earlier end moves the timer; a later one waits for it to fire first.
            self.timer
                .as_mut()
                .reset(monoio::time::Instant::from_std(at));
        }
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
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: either this phase is over, or it was armed for an earlier one.
            if Instant::now() >= self.at {
                return Poll::Ready(());
            }
            self.timer
                .as_mut()
                .reset(monoio::time::Instant::from_std(self.at));
        }
    }
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

    #[test]
    fn an_operation_that_outlives_its_phase_is_abandoned() {
        runtime().block_on(async {
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
        runtime().block_on(async {
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
        runtime().block_on(async {
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
}
