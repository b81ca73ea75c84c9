//! An HTTPS upstream for tests: a test CA and a `localhost` certificate made by [`Pki`] (the
//! `openssl` CLI in a temp dir), served by rustls over std sockets (one thread per connection, keep-alive,
//! `200` with a fixed body framed by `Content-Length`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls::Pki;

/// A running HTTPS upstream; its threads end with the process.
#[derive(Debug)]
pub struct TlsUpstream {
    pub addr: SocketAddr,
    /// The PEM file of the CA that signed its certificate (for `--upstream-ca-file`).
    pub ca_file: PathBuf,
    /// Requests answered.
    pub requests: Arc<AtomicUsize>,
    _pki: Pki,
}

impl TlsUpstream {
    /// Makes the certificates and starts serving `body` on 127.0.0.1:0.
    pub fn start(body: &'static str) -> TlsUpstream {
        let pki = Pki::new();
        pki.leaf_with_san("leaf", "localhost", "ca", 2, "DNS:localhost,IP:127.0.0.1");
        let d = pki.path("");
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(d.join("leaf.pem"))
            .expect("leaf.pem")
            .map(|c| c.expect("a certificate"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(d.join("leaf.key")).expect("leaf.key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (config, counter) = (Arc::clone(&config), Arc::clone(&counter));
                std::thread::spawn(move || serve(stream, config, &counter, body));
            }
        });
        TlsUpstream {
            addr,
            ca_file: pki.path("ca.pem"),
            requests,
            _pki: pki,
        }
    }
}

fn serve(
    stream: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    counter: &AtomicUsize,
    body: &str,
) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Heads only: the tests send no bodies.
        while crate::client::find(&buf, b"\r\n\r\n").is_none() {
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = crate::client::find(&buf, b"\r\n\r\n").expect("a head") + 4;
        buf.drain(..end);
        counter.fetch_add(1, Ordering::SeqCst);
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if tls
            .write_all(resp.as_bytes())
            .and_then(|()| tls.flush())
            .is_err()
        {
            return;
        }
    }
}
