//! TLS termination on the `--tls-listen` listener: the handshake, on the worker's own core,
//! before the connection reaches `conn::serve`.
//!
//! # Architecture
//! 1. The ClientHello is read with rustls's `Acceptor`; its SNI name selects the custom domain
//!    (`Domains::get` in the worker's current snapshot), whose `ServerConfig` (certificate,
//!    minimum version, mutual TLS verifier) the handshake then uses. A replaced certificate is
//!    published in a new snapshot, so the next handshake uses it and open connections keep
//!    theirs.
//! 2. No SNI, an unknown name or a domain without a certificate: an `unrecognized_name` alert
//!    and close. A refused handshake (version, cipher, missing or untrusted client certificate)
//!    gets rustls's alert and closes: nothing reaches the pipeline.
//! 3. The handshake is driven here over the raw socket (reads of at most
//!    `TLS_HANDSHAKE_READ_CHUNK_BYTES`, all bounded by the header-read timeout), then the session is
//!    handed to `monoio_rustls`'s stream, through which `conn::serve` runs as on a plain socket.
//! 4. The session's facts the request path needs (the domain, a client certificate read once)
//!    are kept in a [`TlsSession`] on the connection.

use std::time::Duration;

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use monoio_rustls::ServerTlsStream;
use rustls::server::{Acceptor, ServerConnection};

use portico_shared::limits::TLS_HANDSHAKE_READ_CHUNK_BYTES;
use portico_shared::x509::{self, CertInfo};

use crate::buffers::Buffers;
use crate::snapshots::Snapshots;
use crate::upstream::read_more;

/// A fatal `unrecognized_name` alert (TLS 1.2 record framing, which TLS 1.3 clients accept
/// before the handshake).
const ALERT_UNRECOGNIZED_NAME: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// What a request needs to know of its connection's TLS session.
#[derive(Debug)]
pub struct TlsSession {
    /// The custom domain the handshake was for (its compiled, lowercase name).
    pub domain: Box<str>,
    /// A mutual TLS client's certificate, verified by the handshake.
    pub client_cert: Option<ClientCert>,
}

/// A verified client certificate, as integrations see it.
#[derive(Debug)]
pub struct ClientCert {
    pub info: CertInfo,
    /// PEM of the leaf certificate.
    pub pem: String,
}

/// Headers carrying the client certificate to HTTP integrations (ALB's mutual TLS names);
/// a client's own headers with this prefix are never forwarded.
const CLIENT_CERT_HEADER_PREFIX: &[u8] = b"x-amzn-mtls-clientcert";

/// Whether a request header is one of the client certificate headers the gateway sets.
pub fn is_client_cert_header(name: &[u8]) -> bool {
    name.len() >= CLIENT_CERT_HEADER_PREFIX.len()
        && name[..CLIENT_CERT_HEADER_PREFIX.len()].eq_ignore_ascii_case(CLIENT_CERT_HEADER_PREFIX)
}

// === impl ClientCert ===

impl ClientCert {
    fn new(der: &[u8]) -> Option<ClientCert> {
        let info = x509::parse(der)?;
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64(der);
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        Some(ClientCert { info, pem })
    }

    /// `x-amzn-mtls-clientcert-*` header lines for an upstream request.
    pub fn write_headers(&self, out: &mut Vec<u8>) {
        use crate::http1::write::header;
        header(
            out,
            b"x-amzn-mtls-clientcert-serial-number",
            self.info.serial.as_bytes(),
        );
        header(
            out,
            b"x-amzn-mtls-clientcert-issuer",
            self.info.issuer.as_bytes(),
        );
        header(
            out,
            b"x-amzn-mtls-clientcert-subject",
            self.info.subject.as_bytes(),
        );
        let validity = format!(
            "NotBefore={};NotAfter={}",
            x509::format_iso(self.info.not_before_s),
            x509::format_iso(self.info.not_after_s)
        );
        header(out, b"x-amzn-mtls-clientcert-validity", validity.as_bytes());
        out.extend_from_slice(b"x-amzn-mtls-clientcert-leaf: ");
        for &b in self.pem.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b);
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Runs the server handshake on `tcp`; `None` when it was refused, failed or timed out (the
/// connection is closed).
/// `limit`: the header-read timeout, which bounds the whole handshake.
pub async fn accept(
    snapshots: &Snapshots,
    bufs: &Buffers,
    limit: Duration,
    tcp: TcpStream,
) -> Option<(ServerTlsStream<TcpStream>, Box<TlsSession>)> {
    let mut tcp = tcp;
    match monoio::time::timeout(limit, drive(snapshots, &mut tcp, &mut bufs.take())).await {
        Ok(Some((conn, session))) => Some((ServerTlsStream::new(tcp, conn), session)),
        Ok(None) | Err(_) => None,
    }
}

async fn drive(
    snapshots: &Snapshots,
    tcp: &mut TcpStream,
    raw: &mut Vec<u8>,
) -> Option<(ServerConnection, Box<TlsSession>)> {
    let mut acceptor = Acceptor::default();
    let accepted = loop {
        if read_more(tcp, raw, TLS_HANDSHAKE_READ_CHUNK_BYTES)
            .await
            .ok()?
            == 0
        {
            return None;
        }
        let mut input = &raw[..];
        acceptor.read_tls(&mut input).ok()?;
        let used = raw.len() - input.len();
        raw.drain(..used);
        match acceptor.accept() {
            Ok(None) => continue,
            Ok(Some(a)) => break a,
            Err((_, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                send(tcp, out).await;
                return None;
            }
        }
    };
    let snapshot = snapshots.get();
    let chosen = accepted
        .client_hello()
        .server_name()
        .and_then(|name| snapshot.domains.get(name.as_bytes()))
        .and_then(|d| Some((d.tls.clone()?, d.name.clone())));
    let Some((config, domain)) = chosen else {
        send(tcp, ALERT_UNRECOGNIZED_NAME.to_vec()).await;
        return None;
    };
    drop(snapshot);
    let mut conn = match accepted.into_connection(config) {
        Ok(c) => c,
        Err((_, mut alert)) => {
            let mut out = Vec::new();
            let _ = alert.write_all(&mut out);
            send(tcp, out).await;
            return None;
        }
    };
    let mut out = Vec::new();
    loop {
        // Whatever is buffered goes to rustls first (the ClientHello's tail, early records).
        while !raw.is_empty() {
            let mut input = &raw[..];
            let n = conn.read_tls(&mut input).ok()?;
            raw.drain(..n);
            if let Err(_e) = conn.process_new_packets() {
                let _ = conn.write_tls(&mut out);
                send(tcp, std::mem::take(&mut out)).await;
                return None;
            }
            if n == 0 {
                return None;
            }
        }
        while conn.wants_write() {
            conn.write_tls(&mut out).ok()?;
        }
        if !out.is_empty() && !send(tcp, std::mem::take(&mut out)).await {
            return None;
        }
        if !conn.is_handshaking() {
            break;
        }
        if read_more(tcp, raw, TLS_HANDSHAKE_READ_CHUNK_BYTES)
            .await
            .ok()?
            == 0
        {
            return None;
        }
    }
    let client_cert = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| ClientCert::new(leaf));
    Some((
        conn,
        Box::new(TlsSession {
            domain,
            client_cert,
        }),
    ))
}

/// Writes `bytes` to the socket; whether it worked.
async fn send(tcp: &mut TcpStream, bytes: Vec<u8>) -> bool {
    let (res, _) = tcp.write_all(bytes).await;
    res.is_ok()
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn client_cert_headers_are_recognised() {
        assert!(is_client_cert_header(b"X-Amzn-Mtls-Clientcert-Subject"));
        assert!(!is_client_cert_header(b"x-amzn-requestid"));
    }
}
