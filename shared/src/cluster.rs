//! What the data plane knows of the other nodes of a cluster: their data plane addresses by
//! node number ([`NodeDirectory`], published by the admin side after each heartbeat, read with
//! one atomic load), and the credential a node forwards an `@connections` call to its owner
//! with ([`forward_tag`], checked by [`verify_forward`]).
//!
//! A WebSocket connection id carries the number of the node that owns it (1 to 255, claimed in
//! PostgreSQL at start; 0 for a node on its own store). A node that receives `@connections/{id}`
//! for another node's connection checks the caller itself (SigV4, IAM) and forwards the call
//! over HTTP with [`FORWARDED_HEADER`]: `{unix seconds}.{hex HMAC-SHA256}` over the method, the
//! path, the time and the body, keyed by a secret generated once and shared through PostgreSQL.
//! The owner accepts a forwarded call only with a valid tag no older than
//! [`FORWARD_MAX_AGE_S`], and never forwards one again.

use std::net::SocketAddr;

use crate::limits::FORWARD_MAX_AGE_S;
use crate::sigv4::hmac_sha256;

/// The header a forwarded `@connections` call carries its tag in.
pub const FORWARDED_HEADER: &str = "x-portico-forwarded";

/// One other node as the data plane reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry {
    /// Its data plane listener.
    pub data_addr: SocketAddr,
    /// Its heartbeat was recent at the last listing (a dead node's connections are gone).
    pub live: bool,
}

/// The cluster's nodes by node number; empty on a node of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeDirectory {
    nodes: Vec<Option<NodeEntry>>,
}

impl NodeDirectory {
    /// A directory of `entries` (node number, entry); number 0 is never a cluster node.
    pub fn new(entries: impl IntoIterator<Item = (u8, NodeEntry)>) -> NodeDirectory {
        let mut nodes = Vec::new();
        for (n, e) in entries.into_iter().filter(|(n, _)| *n != 0) {
            let i = usize::from(n);
            if nodes.len() <= i {
                nodes.resize(i + 1, None);
            }
            nodes[i] = Some(e);
        }
        NodeDirectory { nodes }
    }

    /// The node numbered `n`, if it is known.
    pub fn get(&self, n: u8) -> Option<NodeEntry> {
        self.nodes.get(usize::from(n)).copied().flatten()
    }
}

/// The MAC of a forwarded call.
fn mac(secret: &[u8], method: &str, path: &[u8], unix_s: u64, body: &[u8]) -> [u8; 32] {
    let body_hash = hmac_sha256(secret, body);
    let mut data = Vec::with_capacity(method.len() + path.len() + 64);
    data.extend_from_slice(method.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(path);
    data.push(b'\n');
    data.extend_from_slice(unix_s.to_string().as_bytes());
    data.push(b'\n');
    data.extend_from_slice(&body_hash);
    hmac_sha256(secret, &data)
}

/// The [`FORWARDED_HEADER`] value of a call forwarded at `unix_s`.
pub fn forward_tag(secret: &[u8], method: &str, path: &[u8], unix_s: u64, body: &[u8]) -> String {
    format!(
        "{unix_s}.{}",
        hex::encode(mac(secret, method, path, unix_s, body))
    )
}

/// Whether `tag` is a valid [`FORWARDED_HEADER`] value for this call at `now_s`.
pub fn verify_forward(
    secret: &[u8],
    tag: &[u8],
    method: &str,
    path: &[u8],
    body: &[u8],
    now_s: u64,
) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Some(dot) = tag.iter().position(|&b| b == b'.') else {
        return false;
    };
    let Some(unix_s) = std::str::from_utf8(&tag[..dot])
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
    else {
        return false;
    };
    if unix_s.abs_diff(now_s) > FORWARD_MAX_AGE_S {
        return false;
    }
    let Ok(given) = hex::decode(&tag[dot + 1..]) else {
        return false;
    };
    crate::keys::constant_time_eq(&given, &mac(secret, method, path, unix_s, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_only_for_the_same_call_secret_and_time() {
        let s = b"0123456789abcdef0123456789abcdef";
        let tag = forward_tag(s, "POST", b"/prod/@connections/abc=", 1_000, b"hi");
        let ok = |secret: &[u8], m, p: &[u8], b: &[u8], now| {
            verify_forward(secret, tag.as_bytes(), m, p, b, now)
        };
        assert!(ok(s, "POST", b"/prod/@connections/abc=", b"hi", 1_010));
        assert!(!ok(s, "POST", b"/prod/@connections/abc=", b"ho", 1_010));
        assert!(!ok(s, "GET", b"/prod/@connections/abc=", b"hi", 1_010));
        assert!(!ok(s, "POST", b"/prod/@connections/abd=", b"hi", 1_010));
        assert!(!ok(
            b"other",
            "POST",
            b"/prod/@connections/abc=",
            b"hi",
            1_010
        ));
        assert!(!ok(b"", "POST", b"/prod/@connections/abc=", b"hi", 1_010));
        assert!(!ok(s, "POST", b"/prod/@connections/abc=", b"hi", 1_031));
        assert!(!verify_forward(s, b"1000.zz", "POST", b"/", b"", 1_000));
        assert!(!verify_forward(s, b"garbage", "POST", b"/", b"", 1_000));
    }

    #[test]
    fn directory_by_number() {
        let e = NodeEntry {
            data_addr: "127.0.0.1:1".parse().expect("addr"),
            live: true,
        };
        let d = NodeDirectory::new([(3, e), (0, e)]);
        assert_eq!(d.get(3), Some(e));
        assert_eq!(d.get(0), None);
        assert_eq!(d.get(200), None);
    }
}
