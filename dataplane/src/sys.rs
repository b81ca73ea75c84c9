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
