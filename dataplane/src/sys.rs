//! The data plane's only `unsafe`: small system calls that monoio does not wrap.

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
