//! TLS test helpers: a private PKI made with the `openssl` CLI ([`Pki`]) and a rustls client
//! ([`TlsClient`]) that chooses its SNI name, TLS versions and client certificate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::{TempDir, IO_TIMEOUT};

/// Certificates and keys made for one test, in a temp dir: CAs and leaves signed by them.
#[derive(Debug)]
pub struct Pki {
    dir: TempDir,
}

/// A rustls client for one set of trust roots, versions and client certificate.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
}

/// One HTTPS response: status, body and the server's leaf certificate (DER).
pub type TlsResponse = (u16, String, Vec<u8>);

// === impl Pki ===

impl Pki {
    /// A PKI with one CA named `ca`.
    pub fn new() -> Pki {
        let pki = Pki {
            dir: TempDir::new("pki"),
        };
        pki.ca("ca");
        pki
    }

    /// A self-signed CA `{name}.pem`/`{name}.key`.
    pub fn ca(&self, name: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-subj",
            &format!("/CN={name} test CA"),
        ]);
    }

    /// A leaf `{name}.pem`/`{name}.key` for `cn` (also its DNS name), signed by CA `ca`, valid
    /// for `days` (negative: already expired).
    pub fn leaf(&self, name: &str, cn: &str, ca: &str, days: i32) {
        self.leaf_with_san(name, cn, ca, days, &format!("DNS:{cn}"));
    }

    /// [`Pki::leaf`] with its own `subjectAltName` value (`DNS:localhost,IP:127.0.0.1`).
    pub fn leaf_with_san(&self, name: &str, cn: &str, ca: &str, days: i32, san: &str) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}/O=Portico Tests"),
        ]);
        std::fs::write(
            self.path(&format!("{name}.ext")),
            format!("subjectAltName={san}\n"),
        )
        .expect("write ext");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            &days.to_string(),
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// A file's text (`api.pem`, `api.key`).
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
    }

    /// The DER of certificate file `file`.
    pub fn der(&self, file: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(self.read(file).as_bytes())
            .expect("PEM certificate")
            .to_vec()
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl CLI runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

// === impl TlsClient ===

impl TlsClient {
    /// Trusts `ca_pem`; TLS 1.2 only when `tls12_only`, else 1.3 and 1.2; presents
    /// `client` (certificate PEM, key PEM) when asked.
    pub fn new(ca_pem: &str, client: Option<(&str, &str)>, tls12_only: bool) -> TlsClient {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.expect("CA PEM")).expect("CA usable");
        }
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .expect("versions")
                .with_root_certificates(roots);
        let mut config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .expect("client PEM"),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key"),
                )
                .expect("client certificate"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsClient {
            config: Arc::new(config),
        }
    }

    /// Connects to `addr` with SNI `host` and completes the handshake.
    pub fn connect(
        &self,
        addr: SocketAddr,
        host: &str,
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let conn =
            ClientConnection::new(Arc::clone(&self.config), name).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).ok();
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("handshake: {e}"))?;
        }
        Ok(stream)
    }

    /// One request on a new connection (`Connection: close`).
    pub fn get(&self, addr: SocketAddr, host: &str, path: &str) -> Result<TlsResponse, String> {
        let mut s = self.connect(addr, host)?;
        let (status, body) = exchange(&mut s, host, path)?;
        let leaf = s
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        Ok((status, body, leaf))
    }
}

/// Sends `GET path` on an open TLS connection and reads one response (content-length framed).
pub fn exchange(
    s: &mut StreamOwned<ClientConnection, TcpStream>,
    host: &str,
    path: &str,
) -> Result<(u16, String), String> {
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    s.flush().map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = crate::find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line in {head:?}"))?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed mid-body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            return Ok((status, body));
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One GET over HTTPS with curl (`--resolve host:port:127.0.0.1`), trusting `ca`; extra
/// arguments appended. Returns curl's exit code and what it printed (`-w '%{http_code}'` last).
pub fn https_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    ca: &std::path::Path,
    extra: &[&str],
) -> (i32, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--cacert",
            &ca.display().to_string(),
            "--resolve",
            &format!("{host}:{}:127.0.0.1", addr.port()),
            "-w",
            "\n%{http_code}",
        ])
        .args(extra)
        .arg(format!("https://{host}:{}{path}", addr.port()))
        .output()
        .expect("curl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}
