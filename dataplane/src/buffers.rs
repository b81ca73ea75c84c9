//! Per-core free list of byte buffers (and of a connection's header spans): no allocation per
//! request in steady state. A buffer is lent as a [`Buf`], which gives it back when dropped (no
//! hand-paired take and give); a connection that keeps its read buffer across awaits in another
//! task's reach takes it as a plain `Vec` ([`Buffers::lend`]) and gives it back when it goes
//! idle ([`Buffers::give`]), so an idle connection holds none.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use portico_shared::limits::{BUFFER_REUSE_MAX, BUFFER_REUSE_MAX_BYTES};

/// A worker's free buffers.
#[derive(Debug)]
pub struct Buffers<T = u8> {
    free: RefCell<Vec<Vec<T>>>,
}

impl<T> Default for Buffers<T> {
    fn default() -> Self {
        Buffers {
            free: RefCell::new(Vec::new()),
        }
    }
}

impl<T> Buffers<T> {
    /// An empty buffer (with the capacity an earlier request left), given back on drop.
    pub fn take(&self) -> Buf<'_, T> {
        Buf {
            home: Some(self),
            buf: self.lend(),
        }
    }

    /// An empty buffer, as a plain `Vec`: hand it back with [`Buffers::give`] (dropped instead,
    /// it is simply freed).
    pub fn lend(&self) -> Vec<T> {
        self.free.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `buf` (emptied) for the next [`Buffers::take`] or [`Buffers::lend`], unless it is
    /// past the size bound or the list is full.
    pub fn give(&self, mut buf: Vec<T>) {
        let bytes = buf
            .capacity()
            .saturating_mul(std::mem::size_of::<T>().max(1));
        if bytes > BUFFER_REUSE_MAX_BYTES || buf.capacity() == 0 {
            return;
        }
        let mut free = self.free.borrow_mut();
        if free.len() < BUFFER_REUSE_MAX {
            buf.clear();
            free.push(buf);
        }
    }

    /// Buffers on the free list.
    pub fn free_count(&self) -> usize {
        self.free.borrow().len()
    }
}

/// A lent buffer; derefs to its `Vec`. `Buf::default()` belongs to no free list (it is simply
/// freed).
#[derive(Debug)]
pub struct Buf<'a, T = u8> {
    home: Option<&'a Buffers<T>>,
    buf: Vec<T>,
}

impl<T> Default for Buf<'_, T> {
    fn default() -> Self {
        Buf {
            home: None,
            buf: Vec::new(),
        }
    }
}

impl<T> Deref for Buf<'_, T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.buf
    }
}

impl<T> DerefMut for Buf<'_, T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.buf
    }
}

impl<T> Drop for Buf<'_, T> {
    fn drop(&mut self) {
        if let Some(home) = self.home {
            home.give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_on_drop_and_keep_their_capacity() {
        let pool = Buffers::default();
        {
            let mut a = pool.take();
            a.extend_from_slice(b"abc");
            let _b = pool.take();
        }
        // `_b` never grew: an empty buffer is not kept.
        assert_eq!(pool.free_count(), 1);
        let a = pool.take();
        assert!(a.is_empty() && a.capacity() >= 3);
        drop(a);
        {
            let mut big = pool.take();
            big.reserve(BUFFER_REUSE_MAX_BYTES + 1);
        }
        assert_eq!(pool.free_count(), 0, "a buffer past the bound is freed");
        let mut orphan = Buf::default();
        orphan.push(1);
        drop(orphan);
        assert_eq!(pool.free_count(), 0);
    }
}
