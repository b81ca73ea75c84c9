//! HTTP/1.1 on owned buffers: request head parsing (httparse), body framing (content-length,
//! chunked) and response writing.
//!
//! Invariant: parsing works on byte offsets into the connection's buffer, never on borrowed
//! slices that outlive a call, so the buffer can be handed to the kernel (io_uring owns buffers
//! while a read is in flight) between calls.

pub mod body;
pub mod parse;
pub mod write;

pub use parse::{parse_request, BodyKind, ParseError, RequestHead, Version};
