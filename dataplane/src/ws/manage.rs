//! The `@connections` API (`apigatewaymanagementapi`): `POST`/`GET`/`DELETE`
//! `/{stage}/@connections/{connectionId}` on the data plane, SigV4-signed with service
//! `execute-api`.
//!
//! Authorization: the signature is verified by `iam::verify` against the snapshot's `IamTable`
//! (the admin credentials are the account's root there: allowed everything); an IAM user must
//! be allowed `execute-api:ManageConnections` on
//! `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/@connections/{id}` by its
//! identity policies. With no admin credentials configured (a loopback development setup, as the
//! admin API), requests are not checked.
//!
//! A call for a connection another node of the cluster owns (its id names that node) is
//! forwarded there once the caller is authorized here (`forward.rs`); a forwarded call is
//! authorized by its MAC instead, and is never forwarded again.

use std::time::{SystemTime, UNIX_EPOCH};

use monoio::io::AsyncWriteRentExt;

use super::registry::{ConnectionId, Op, OpResult};
use super::Core;
use crate::downstream::{BodyLoc, Downstream, Stream};
use crate::http1::RequestHead;

/// The IAM action `@connections` requests are authorized for.
const MANAGE_CONNECTIONS: &str = "execute-api:ManageConnections";

/// Whether the path below the stage is `/@connections/...` (the `@` may be `%40`).
pub fn is_connections_path(rest: &str) -> bool {
    connection_id_text(rest).is_some()
}

fn connection_id_text(rest: &str) -> Option<&str> {
    let r = rest.strip_prefix('/')?;
    let r = r.strip_prefix("@connections/").or_else(|| {
        r.get(..15)
            .filter(|p| p.eq_ignore_ascii_case("%40connections/"))
            .map(|_| &r[15..])
    })?;
    (!r.is_empty() && !r.contains('/')).then_some(r)
}

/// Serves one `@connections` request. Returns the buffer bytes it used, or `None` to close
/// the connection.
pub async fn serve<S: Stream>(
    w: &Core<'_>,
    d: &mut Downstream<S>,
    head: &RequestHead,
) -> Option<usize> {
    let mut body = Vec::new();
    let (loc, consumed) = match d.read_body(&w.cfg.limits, head, &mut body).await {
        Ok(r) => r,
        Err(_) => {
            write(d, 400, "BadRequestException", "Bad Request", false).await;
            return None;
        }
    };
    let payload: Vec<u8> = match loc {
        BodyLoc::InBuf(s, e) => d.buf[s..e].to_vec(),
        BodyLoc::Decoded => body,
    };
    let (status, error_type, message, json) = answer(w, d, head, payload).await;
    let ok = write_json(
        d,
        status,
        error_type,
        &message,
        json.as_deref(),
        head.keep_alive,
    )
    .await;
    (ok && head.keep_alive).then_some(consumed)
}

/// A response: status, `x-amzn-ErrorType`, message, body (a success's, or relayed as it is).
pub(super) type Answer = (u16, &'static str, String, Option<String>);

/// The response.
async fn answer<S: Stream>(
    w: &Core<'_>,
    d: &Downstream<S>,
    head: &RequestHead,
    payload: Vec<u8>,
) -> Answer {
    let snapshot = w.snapshot();
    let forwarded = crate::request::header(
        &d.buf,
        &d.headers,
        portico_shared::cluster::FORWARDED_HEADER.as_bytes(),
    );
    let caller = if let Some(tag) = forwarded {
        // Another node checked the caller; the MAC proves it was a node of this cluster.
        let path = crate::http1::parse::bytes(&d.buf, head.path);
        if !super::forward::verify(w, head.method.as_str(), path, tag, &payload) {
            return (403, "ForbiddenException", "Forbidden".into(), None);
        }
        None
    } else if w.cfg.ws_signed {
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        match crate::stages::authorize::iam::verify(
            &snapshot, head, &d.buf, &d.headers, &payload, now_s,
        ) {
            Ok(key) => Some(key),
            Err(e) => return (e.status().as_u16(), e.error_type(), e.message(), None),
        }
    } else {
        None
    };
    let found = super::target(&snapshot, &w.cfg.domain, head, &d.buf, d.tls.as_deref())
        .map(|(api, stage, _, rest)| (api, stage, rest));
    let Some((api, stage, id_text)) =
        found.and_then(|(api, stage, rest)| Some((api, stage, connection_id_text(rest)?)))
    else {
        return (404, "NotFoundException", "Not Found".into(), None);
    };
    if let Some(key) = caller.filter(|k| !k.principal.root) {
        let mut resource = String::with_capacity(128);
        snapshot.iam.write_resource_arn(
            &mut resource,
            &api.id,
            &stage.name,
            head.method.as_str(),
            &format!("/@connections/{id_text}"),
        );
        let req = portico_shared::iam::Request {
            action: MANAGE_CONNECTIONS,
            resource: &resource,
            principal: Some(&key.principal.arn),
            source_ip: d.peer.ip(),
        };
        if key.decide(&req, &snapshot.iam.account_id) != portico_shared::iam::Decision::Allow {
            return (
                403,
                "AccessDeniedException",
                format!(
                    "User: {} is not authorized to perform: {MANAGE_CONNECTIONS} on resource: {resource}",
                    key.principal.arn
                ),
                None,
            );
        }
    }
    let decoded = portico_shared::percent::decode(id_text.as_bytes());
    match head.method {
        http::Method::POST if payload.len() > w.cfg.ws.message_max_bytes => {
            return (
                413,
                "PayloadTooLargeException",
                format!(
                    "Request payload is larger than {} bytes",
                    w.cfg.ws.message_max_bytes
                ),
                None,
            );
        }
        http::Method::POST | http::Method::GET | http::Method::DELETE => {}
        _ => return (404, "NotFoundException", "Not Found".into(), None),
    }
    let gone = (410, "GoneException", String::new(), None);
    let Some(id) = ConnectionId::decode(&decoded) else {
        return gone;
    };
    if id.node != w.ws.node() {
        if forwarded.is_some() {
            // Never twice: the node that forwarded it knew better, or the ids disagree.
            return gone;
        }
        return super::forward::call(
            w,
            &head.method,
            &api.id,
            &stage.name,
            id_text,
            id.node,
            &payload,
        )
        .await;
    }
    let op = match head.method {
        http::Method::POST => Op::Post(payload),
        http::Method::GET => Op::Get,
        _ => Op::Delete,
    };
    let deleting = matches!(op, Op::Delete);
    match w.ws.call(id, op).await {
        OpResult::Gone => gone,
        OpResult::Busy => (
            429,
            "LimitExceededException",
            "The connection is not reading its messages".into(),
            None,
        ),
        OpResult::Done if deleting => (204, "", String::new(), None),
        OpResult::Done => (200, "", String::new(), None),
        OpResult::Info {
            connected_at_ms,
            last_active_ms,
            source_ip,
            user_agent,
        } => {
            let json = serde_json::json!({
                "connectedAt": iso8601_ms(connected_at_ms),
                "identity": { "sourceIp": &*source_ip, "userAgent": &*user_agent },
                "lastActiveAt": iso8601_ms(last_active_ms),
            });
            (200, "", String::new(), Some(json.to_string()))
        }
    }
}

async fn write<S: Stream>(
    d: &mut Downstream<S>,
    status: u16,
    error_type: &str,
    message: &str,
    keep: bool,
) {
    write_json(d, status, error_type, message, None, keep).await;
}

async fn write_json<S: Stream>(
    d: &mut Downstream<S>,
    status: u16,
    error_type: &str,
    message: &str,
    json: Option<&str>,
    keep_alive: bool,
) -> bool {
    use crate::http1::write;
    let body = match json {
        Some(j) => j.to_string(),
        None if status >= 400 => serde_json::json!({ "message": message }).to_string(),
        None => String::new(),
    };
    let mut out = Vec::with_capacity(256 + body.len());
    write::status_line(&mut out, status, write::reason(status));
    if !body.is_empty() {
        write::header(&mut out, b"content-type", b"application/json");
    }
    write::header_u64(&mut out, b"content-length", body.len() as u64);
    if !error_type.is_empty() {
        write::header(&mut out, b"x-amzn-errortype", error_type.as_bytes());
    }
    if !keep_alive {
        write::header(&mut out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    matches!(
        monoio::time::timeout(d.write_timeout, d.stream.write_all(out)).await,
        Ok((Ok(_), _))
    )
}

/// `2026-11-25T12:00:00.000Z`.
fn iso8601_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let (y, m, d) = portico_shared::quota::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(connection_id_text("/@connections/abc%3D"), Some("abc%3D"));
        assert_eq!(connection_id_text("/%40connections/abc"), Some("abc"));
        assert_eq!(connection_id_text("/@connections/"), None);
        assert_eq!(connection_id_text("/other"), None);
        assert_eq!(portico_shared::percent::decode(b"ab%3D%3d"), b"ab==");
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
