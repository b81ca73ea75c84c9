//! The data plane's only `unsafe`: small system calls that monoio does not wrap, and the per-core
//! blocks that per-request futures are placed in (`Boxes`).

#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Whether an idle pooled upstream socket can no longer carry a request: the upstream closed it
/// (EOF), reset it, or sent bytes nobody asked for. A non-blocking `MSG_PEEK` of one byte: one
/// system call, used before reusing a connection for a request that may not be retried.
pub fn is_stale(stream: &impl AsRawFd) -> bool {
    // SAFETY: the descriptor belongs to `stream`, which outlives this call; a `BorrowedFd`
    // never closes what it borrows.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let sock = socket2::SockRef::from(&fd);
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    match sock.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Sends what `stream`'s socket takes right now, without waiting: one `send(2)` with
/// `MSG_DONTWAIT | MSG_NOSIGNAL`. `Ok(0)` when the socket's buffer is full (the caller writes
/// the rest through the ring).
///
/// Why not the ring: a send queued on the ring leaves only when the worker next enters the
/// kernel, after every other task that is ready has run; a burst of requests would hold each
/// request's bytes until the whole burst is processed. A small write into a socket with room
/// completes at once, so it goes out now, as an epoll server's would (see ARCHITECTURE.md).
pub fn send_now(stream: &impl AsRawFd, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: as in `is_stale`.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let sock = socket2::SockRef::from(&fd);
    match sock.send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
        Ok(n) => Ok(n),
        // (EINTR cannot happen with MSG_DONTWAIT; if it did, the ring would retry the whole.)
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// Receives what `stream`'s socket holds right now into `buf`'s spare capacity, without
/// waiting: one `recv(2)` with `MSG_DONTWAIT`. `Ok(None)`: nothing to read yet (the caller waits
/// for readability again); `Ok(Some(0))`: end of stream.
///
/// Why not the ring: a connection waits for bytes with a readiness poll (no buffer held while
/// idle, issue 22); once the poll completes the bytes are there, and a receive queued on the
/// ring would only complete after another trip through the event loop.
pub fn recv_now(stream: &impl AsRawFd, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    if buf.len() == buf.capacity() {
        // A receive into no room reads 0 bytes, which would look like the end of the stream.
        buf.reserve(portico_shared::limits::READ_BUF_BYTES);
    }
    // SAFETY: as in `is_stale`.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let sock = socket2::SockRef::from(&fd);
    let len = buf.len();
    match sock.recv_with_flags(buf.spare_capacity_mut(), libc::MSG_DONTWAIT) {
        Ok(n) => {
            // SAFETY: `recv` initialized the first `n` bytes of the spare capacity it was
            // given (`n` is at most its length).
            unsafe { buf.set_len(len + n) };
            Ok(Some(n))
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Half-closes `stream`'s socket for writing (a FIN after what was sent).
pub fn shutdown_write(stream: &impl AsRawFd) -> std::io::Result<()> {
    // SAFETY: as in `is_stale`.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Write)
}

std::thread_local! {
    static URING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records whether this thread's runtime drives io_uring (`true`) or epoll.
pub fn set_uring(on: bool) {
    URING.with(|u| u.set(on));
}

/// Whether this thread's runtime drives io_uring. Readiness waits differ: io_uring's poll
/// always asks the kernel, while monoio's epoll driver answers a relaxed wait from its own
/// readiness flags, which a receive made outside monoio (`recv_now`) never clears.
pub fn uring() -> bool {
    URING.with(std::cell::Cell::get)
}

/// A per-core cache of the memory behind boxed futures, by layout: a request's future (about
/// 2.7 KiB) is written into a block an earlier request used, and the block comes back here when
/// the future is dropped, instead of a `malloc` and a `free` per request.
///
/// Why not `Box`: glibc serves blocks past its thread cache (1 KiB) from bins, about 300
/// instructions a request (tools/callgrind.sh), and, worse, it splits a freed request block to
/// serve the small long-lived allocations of the next connections, so the next request needs
/// fresh memory: memory per idle WebSocket connection swung between 1.3 and 3.9 KiB from run to
/// run (issue 22). A block kept here is only ever reused whole.
#[derive(Debug, Default)]
pub struct Boxes {
    /// Free blocks by layout (a handful of layouts: one per future type boxed here).
    free: std::cell::RefCell<Vec<(std::alloc::Layout, Vec<std::ptr::NonNull<u8>>)>>,
}

impl Boxes {
    /// Places `fut` in a cached (or new) block; pinned there until the returned handle drops.
    /// Inlined, so that the future is built in its block: a call would build it on the stack
    /// and copy all of it (2.7 KiB, most of it not yet used) into the block.
    #[inline(always)]
    pub fn pin<F: std::future::Future>(&self, fut: F) -> Pinned<'_, F> {
        let layout = std::alloc::Layout::new::<F>();
        let ptr = if layout.size() == 0 {
            std::ptr::NonNull::<F>::dangling()
        } else {
            self.block(layout).cast::<F>()
        };
        // SAFETY: `ptr` is valid for writes of `F` and aligned for it (allocated with its layout,
        // or dangling for a zero-sized `F`), and holds no live value.
        unsafe { ptr.as_ptr().write(fut) };
        Pinned { ptr, home: self }
    }

    /// A free block of `layout` (non-zero size), cached or new.
    fn block(&self, layout: std::alloc::Layout) -> std::ptr::NonNull<u8> {
        let cached = {
            let mut free = self.free.borrow_mut();
            free.iter_mut()
                .find(|(l, _)| *l == layout)
                .and_then(|(_, blocks)| blocks.pop())
        };
        cached.unwrap_or_else(|| {
            // SAFETY: `layout` has a non-zero size (checked by the caller).
            let p = unsafe { std::alloc::alloc(layout) };
            std::ptr::NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
        })
    }

    fn give(&self, layout: std::alloc::Layout, block: std::ptr::NonNull<u8>) {
        let mut free = self.free.borrow_mut();
        let blocks = match free.iter().position(|(l, _)| *l == layout) {
            Some(i) => &mut free[i].1,
            None => {
                free.push((layout, Vec::new()));
                let last = free.len() - 1;
                &mut free[last].1
            }
        };
        if blocks.len() < portico_shared::limits::FUTURE_BLOCKS_KEPT_PER_LAYOUT {
            blocks.push(block);
        } else {
            // SAFETY: `block` was allocated with `layout` and holds no live value.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        }
    }
}

impl Drop for Boxes {
    fn drop(&mut self) {
        for (layout, blocks) in self.free.get_mut().drain(..) {
            for block in blocks {
                // SAFETY: each block was allocated with `layout` and holds no live value.
                unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
            }
        }
    }
}

/// A future placed by [`Boxes::pin`]: it never moves, and its block goes back when this drops.
#[derive(Debug)]
pub struct Pinned<'a, F> {
    ptr: std::ptr::NonNull<F>,
    home: &'a Boxes,
}

// The future is pinned in its block, not in the handle: moving the handle moves a pointer.
impl<F> Unpin for Pinned<'_, F> {}

impl<F: std::future::Future> std::future::Future for Pinned<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // SAFETY: the future lives at `ptr` from `Boxes::pin` until this handle drops, is never
        // moved out of it, and this handle is its only reference.
        let fut = unsafe { std::pin::Pin::new_unchecked(&mut *self.ptr.as_ptr()) };
        fut.poll(cx)
    }
}

impl<F> Drop for Pinned<'_, F> {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::new::<F>();
        // SAFETY: the future at `ptr` is live (written by `Boxes::pin`) and dropped only here.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        if layout.size() != 0 {
            self.home.give(layout, self.ptr.cast());
        }
    }
}

/// `bytes` as text: what `std::str::from_utf8` gives, faster for the short ASCII strings every
/// request carries (paths, API ids), which it checks a word at a time instead of decoding. Here
/// because this module holds the crate's `unsafe`.
#[inline]
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes)
    }
}
