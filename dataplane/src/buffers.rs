//! Per-core free list of byte buffers: no allocation per request in steady state. A buffer is
//! lent as a [`Buf`], which gives it back when dropped (no hand-paired take and give).

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use portico_shared::limits::{BUFFER_REUSE_MAX, BUFFER_REUSE_MAX_BYTES};

/// A worker's free buffers.
#[derive(Debug, Default)]
pub struct Buffers {
    free: RefCell<Vec<Vec<u8>>>,
}

impl Buffers {
    /// An empty buffer (with the capacity an earlier request left), given back on drop.
    pub fn take(&self) -> Buf<'_> {
        Buf {
            home: Some(self),
            buf: self.free.borrow_mut().pop().unwrap_or_default(),
        }
    }

    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() > BUFFER_REUSE_MAX_BYTES || buf.capacity() == 0 {
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

/// A lent buffer; derefs to its `Vec<u8>`. `Buf::default()` belongs to no free list (it is
/// simply freed).
#[derive(Debug, Default)]
pub struct Buf<'a> {
    home: Option<&'a Buffers>,
    buf: Vec<u8>,
}

impl Deref for Buf<'_> {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Buf<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for Buf<'_> {
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
