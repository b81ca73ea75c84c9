//! Writing what the gateway answers itself: the `Connection` header and the end of every
//! response head, gateway errors and CORS preflights.

use portico_shared::cors::CorsPolicy;

use crate::error::GatewayError;
use crate::http1::write;
use crate::http1::Version;
use crate::request_id::RequestId;

/// The `Connection` header a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// HTTP/1.1 keep-alive: no header needed.
    Default,
    /// HTTP/1.0 client that asked for keep-alive.
    KeepAlive,
    Close,
}

impl ConnectionHeader {
    /// The header for a connection that stays open (`keep_alive`) or not, on `version`.
    pub fn new(keep_alive: bool, version: Version) -> ConnectionHeader {
        match (keep_alive, version) {
            (false, _) => ConnectionHeader::Close,
            (true, Version::Http10) => ConnectionHeader::KeepAlive,
            (true, Version::Http11) => ConnectionHeader::Default,
        }
    }

    pub fn write(self, out: &mut Vec<u8>) {
        match self {
            ConnectionHeader::Default => {}
            ConnectionHeader::KeepAlive => write::header(out, b"connection", b"keep-alive"),
            ConnectionHeader::Close => write::header(out, b"connection", b"close"),
        }
    }

    /// The end of a response head every answer shares: this header, then the blank line.
    pub fn end_head(self, out: &mut Vec<u8>) {
        self.write(out);
        out.extend_from_slice(b"\r\n");
    }
}

/// What every answer's head carries besides its own lines: the request id, the `Connection`
/// header, whether the request was a HEAD (no body written) and the CORS lines of the API.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub request_id: RequestId,
    pub connection: ConnectionHeader,
    pub head_only: bool,
    /// The API's CORS policy and the request's `Origin`.
    pub cors: Option<(&'a CorsPolicy, &'a [u8])>,
}

/// Writes a gateway-generated JSON error response.
pub fn write_error(
    e: &GatewayError,
    request_id: RequestId,
    connection: ConnectionHeader,
    head_only: bool,
    cors: Option<(&CorsPolicy, &[u8])>,
    out: &mut Vec<u8>,
) {
    let status = e.status();
    write::status_line(out, status, write::reason(status));
    write::header(out, b"content-type", b"application/json");
    let body = e.body();
    write::header_u64(out, b"content-length", body.len() as u64);
    write::header(out, b"apigw-requestid", request_id.as_bytes());
    if let GatewayError::Unauthorized(f) = e {
        write::header(out, b"www-authenticate", f.www_authenticate().as_bytes());
    }
    if let Some((policy, origin)) = cors {
        policy.write_actual(origin, out);
    }
    connection.end_head(out);
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Writes the gateway's answer to a CORS preflight: 204, with the `access-control-*` lines
/// when the origin, method and headers are allowed.
pub fn write_preflight(
    p: &crate::cors::Preflight<'_, '_>,
    request_id: RequestId,
    connection: ConnectionHeader,
    out: &mut Vec<u8>,
) {
    write::status_line(out, 204, write::reason(204));
    p.policy.write_preflight(p.origin, p.method, p.headers, out);
    write::header(out, b"apigw-requestid", request_id.as_bytes());
    connection.end_head(out);
}

/// Writes REST's id headers.
pub fn write_id_headers(out: &mut Vec<u8>, id: RequestId) {
    write::header(out, b"x-amzn-requestid", &id.uuid());
    write::header(out, b"x-amz-apigw-id", id.as_bytes());
}

/// Whether `name` is an `access-control-*` header (dropped from answers of APIs with CORS).
pub fn is_cors_header(name: &[u8]) -> bool {
    name.len() > 15 && name[..15].eq_ignore_ascii_case(b"access-control-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_headers() {
        let cases = [
            (true, Version::Http11, ""),
            (true, Version::Http10, "connection: keep-alive\r\n"),
            (false, Version::Http11, "connection: close\r\n"),
            (false, Version::Http10, "connection: close\r\n"),
        ];
        for (keep_alive, version, want) in cases {
            let mut out = Vec::new();
            ConnectionHeader::new(keep_alive, version).end_head(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), format!("{want}\r\n"));
        }
    }

    #[test]
    fn cors_header_names() {
        for (name, want) in [
            (&b"Access-Control-Allow-Origin"[..], true),
            (b"access-control-", false),
            (b"x-access-control-a", false),
        ] {
            assert_eq!(is_cors_header(name), want);
        }
    }
}
