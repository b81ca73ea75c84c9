//! A worker-local shutdown signal: set once, wakes every waiter. Single-threaded (monoio tasks
//! are `!Send`), so a `Cell` and a `RefCell` of wakers suffice; nothing here locks.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Fired when the process is asked to stop.
#[derive(Debug, Default)]
pub struct Shutdown {
    fired: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

/// Resolves once [`Shutdown::fire`] has been called.
#[derive(Debug)]
pub struct Fired<'a>(&'a Shutdown);

// === impl Shutdown ===

impl Shutdown {
    pub fn fire(&self) {
        self.fired.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    pub fn fired(&self) -> Fired<'_> {
        Fired(self)
    }
}

impl Future for Fired<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fired.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.0.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
