//! The JWKS fetcher: fills the key slots of HTTP API JWT authorizers, on the admin thread.
//!
//! # Architecture
//! 1. Every [`JWKS_TICK_MS`], [`fetch_loop`] reads the published snapshot and walks each API's
//!    `key_slots` (collected at compile time, one per key source).
//! 2. A slot is fetched when it has no keys yet or its last fetch failed (then again every
//!    `JWKS_RETRY_S`), when its keys are older than `JWKS_TTL_S`, or when a worker asked for a refresh
//!    (an unknown `kid`) and the last fetch is at least `JWKS_REFETCH_INTERVAL_MIN_S` old. The
//!    request flag stays set until the rate limit allows it, so a rotation is picked up late,
//!    never lost.
//! 3. A fetch is OpenID discovery (`{issuer}/.well-known/openid-configuration` → `jwks_uri`) or
//!    the `jwksUri` override, then the JWKS, each over a minimal HTTP/1.1 client (`http://`
//!    only until TLS lands; 1,500 ms and 150,000 bytes each, as AWS), then
//!    `KeySlot::publish`. A failed fetch keeps the keys already published.
//!
//! Invariants: workers never fetch and never wait for a fetch; they only read a slot (an
//! `ArcSwapOption` load) and set its refresh flag (an atomic store). Fetches run one at a time.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use portico_shared::jwt::{parse_jwks, KeySlot, KeySource};
use portico_shared::limits::{
    JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES, JWKS_REFETCH_INTERVAL_MIN_S, JWKS_RETRY_S, JWKS_TICK_MS,
    JWKS_TTL_S,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::SnapshotCell;

/// What the fetcher remembers of one slot.
#[derive(Debug)]
struct Fetched {
    /// The slot this is about (a slot recreated for the same source starts afresh).
    slot: Weak<KeySlot>,
    /// When the last fetch started.
    attempted: Instant,
    /// Whether the last fetch published keys.
    ok: bool,
}

/// Fills the key slots of the published snapshot, forever.
pub(crate) async fn fetch_loop(cell: SnapshotCell) {
    let mut known: HashMap<KeySource, Fetched> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(JWKS_TICK_MS));
    loop {
        tick.tick().await;
        let slots: Vec<Arc<KeySlot>> = cell
            .load()
            .apis()
            .flat_map(|a| a.key_slots.iter().cloned())
            .collect();
        for slot in slots {
            let due = match known.get(&slot.source) {
                Some(f) if f.slot.as_ptr() == Arc::as_ptr(&slot) => {
                    let age = f.attempted.elapsed();
                    if !f.ok {
                        age >= Duration::from_secs(JWKS_RETRY_S)
                    } else if age >= Duration::from_secs(JWKS_TTL_S) {
                        true
                    } else {
                        age >= Duration::from_secs(JWKS_REFETCH_INTERVAL_MIN_S)
                            && slot.take_refresh()
                    }
                }
                _ => true,
            };
            if !due {
                continue;
            }
            let attempted = Instant::now();
            let ok = match fetch(&slot.source).await {
                Ok(keys) => {
                    tracing::info!(source = ?slot.source, keys = keys.len(), "JWKS fetched");
                    slot.publish(keys);
                    true
                }
                Err(e) => {
                    tracing::warn!(source = ?slot.source, error = %e, "JWKS fetch failed");
                    false
                }
            };
            known.insert(
                slot.source.clone(),
                Fetched {
                    slot: Arc::downgrade(&slot),
                    attempted,
                    // A failed refetch keeps the keys published and is retried soon.
                    ok,
                },
            );
        }
        known.retain(|_, f| f.slot.strong_count() > 0);
    }
}

/// Fetches and parses the keys of `source`.
async fn fetch(source: &KeySource) -> Result<portico_shared::jwt::KeySet, String> {
    let jwks_uri = match source {
        KeySource::Jwks(u) => u.to_string(),
        KeySource::Discovery(issuer) => {
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let doc = get(&url).await?;
            let doc: serde_json::Value = serde_json::from_slice(&doc)
                .map_err(|e| format!("discovery document at {url} is not JSON: {e}"))?;
            doc.get("jwks_uri")
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("discovery document at {url} has no jwks_uri"))?
                .to_string()
        }
    };
    parse_jwks(&get(&jwks_uri).await?)
}

/// `GET url` (`http://` only): the body of a 200, at most `JWKS_MAX_BYTES`.
async fn get(url: &str) -> Result<Vec<u8>, String> {
    let timeout = Duration::from_millis(JWKS_FETCH_TIMEOUT_MS);
    tokio::time::timeout(timeout, get_inner(url))
        .await
        .map_err(|_| format!("GET {url} timed out after {JWKS_FETCH_TIMEOUT_MS} ms"))?
}

async fn get_inner(url: &str) -> Result<Vec<u8>, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are fetched until TLS lands"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.contains([' ', '\r', '\n']) {
        return Err(format!("{url}: not a valid http:// URL"));
    }
    let target = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let mut stream = tokio::net::TcpStream::connect(&target)
        .await
        .map_err(|e| format!("connect to {target}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {authority}\r\naccept: application/json\r\nconnection: close\r\nuser-agent: portico\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let mut buf = Vec::new();
    let limit = JWKS_MAX_BYTES + 16 * 1024;
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > limit {
            return Err(format!(
                "GET {url}: response larger than {JWKS_MAX_BYTES} bytes"
            ));
        }
    }
    parse_response(&buf).map_err(|e| format!("GET {url}: {e}"))
}

/// The body of a complete `connection: close` response, if its status is 200.
pub(crate) fn parse_response(buf: &[u8]) -> Result<Vec<u8>, String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete response head")?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8")?;
    let body = &buf[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .ok_or("no status line")?;
    if status != "200" {
        return Err(format!("status {status}"));
    }
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("body shorter than content-length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > JWKS_MAX_BYTES {
        return Err(format!("body larger than {JWKS_MAX_BYTES} bytes"));
    }
    Ok(body)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size = std::str::from_utf8(&body[..eol]).map_err(|_| "bad chunk size")?;
        let size = size.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| "bad chunk size")?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let data = body.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(data);
        body = body.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(ok).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"{}");
        let closed = b"HTTP/1.1 200 OK\r\n\r\n{\"keys\":[]}";
        assert_eq!(parse_response(closed).unwrap(), b"{\"keys\":[]}");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}").is_err());
    }
}
