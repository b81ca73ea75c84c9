//! Custom domain names, compiled: which API and stage a request for `api.example.com/orders/v1/...`
//! goes to (API mappings), and the TLS server configuration its handshakes use (certificate,
//! minimum TLS version, mutual TLS truststore). Published in the [`crate::Snapshot`], so a
//! replaced certificate is used by the next handshake and open connections keep theirs.
//!
//! # Architecture
//! 1. The admin side compiles each domain name with [`Domain::compile`]: certificate and key PEM
//!    → a rustls `ServerConfig` (ring provider; TLS 1.3 always, TLS 1.2 per policy; ALPN
//!    `http/1.1`; resumption by stateless tickets from one process-wide ticketer, so a ticket
//!    issued by one worker resumes on every other); a truststore → a client verifier that
//!    requires a certificate chaining to it.
//! 2. The data plane looks a host name up with [`Domains::get`]: exact name, else the wildcard
//!    `*.parent`; case-insensitive, port and trailing dot ignored, no allocation.
//! 3. [`Domain::map`] picks the API mapping whose key is the longest whole-segment prefix of the
//!    path, and returns the path with the key stripped.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ProducesTickets, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::limits::DOMAIN_NAME_MAX_BYTES;
use crate::x509::{self, CertInfo};

type Hasher = foldhash::fast::FixedState;

/// Every custom domain name, by lowercase name (`*.example.com` for a wildcard).
#[derive(Debug, Default)]
pub struct Domains {
    by_name: HashMap<Box<str>, Arc<Domain>, Hasher>,
}

/// One custom domain name.
#[derive(Debug)]
pub struct Domain {
    pub name: Box<str>,
    /// Longest key first, so the most specific mapping wins; the empty key (the whole domain)
    /// last.
    pub mappings: Vec<Mapping>,
    /// What a handshake for this name uses; `None` without a certificate (plain HTTP only).
    pub tls: Option<Arc<ServerConfig>>,
    /// Handshakes require a client certificate that chains to the domain's truststore, and
    /// requests for this domain are served only on such connections.
    pub mutual_tls: bool,
}

/// An API mapping (v2) or base path mapping (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Path segments without leading or trailing `/` (`orders/v1`); empty maps the whole domain.
    pub key: Box<str>,
    pub api_id: Box<str>,
    /// `None` (a v1 base path mapping without a stage): the stage is the path's next segment.
    pub stage: Option<Box<str>>,
}

/// The domain's one certificate (the domain was chosen by SNI before the handshake went on).
#[derive(Debug)]
struct OneCertificate(Arc<rustls::sign::CertifiedKey>);

/// The minimum TLS version a domain accepts (`securityPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// `TLS_1_0`: Portico's lowest, TLS 1.2 (rustls has no TLS 1.0 or 1.1).
    Tls10,
    /// `TLS_1_2`: TLS 1.2 and 1.3.
    Tls12,
}

/// What compiling a domain's TLS needs.
#[derive(Debug, Clone, Copy)]
pub struct TlsInput<'a> {
    /// The certificate, then its chain, PEM.
    pub certificate_pem: &'a str,
    pub chain_pem: Option<&'a str>,
    pub private_key_pem: &'a str,
    pub policy: TlsPolicy,
    /// Mutual TLS: the CA certificates client certificates must chain to, PEM.
    pub truststore_pem: Option<&'a str>,
}

// === impl Domains ===

impl Domains {
    pub fn new(domains: impl IntoIterator<Item = Domain>) -> Domains {
        Domains {
            by_name: domains
                .into_iter()
                .map(|d| (d.name.clone(), Arc::new(d)))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The domain for a `Host` header value or SNI name: exact, else `*.{parent}`.
    pub fn get(&self, host: &[u8]) -> Option<&Domain> {
        if self.by_name.is_empty() {
            return None;
        }
        let host = strip_port(host);
        let host = host.strip_suffix(b".").unwrap_or(host);
        let mut lower = [0u8; DOMAIN_NAME_MAX_BYTES + 1];
        let l = lower.get_mut(1..=host.len())?;
        l.copy_from_slice(host);
        l.make_ascii_lowercase();
        let name = std::str::from_utf8(&lower[1..=host.len()]).ok()?;
        if let Some(d) = self.by_name.get(name) {
            return Some(d);
        }
        let dot = name.find('.')?;
        // `*.parent`: the byte before the parent's dot becomes the `*`.
        lower[dot] = b'*';
        let wildcard = std::str::from_utf8(&lower[dot..=host.len()]).ok()?;
        self.by_name.get(wildcard).map(|d| &**d)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Domain>> {
        self.by_name.values()
    }
}

// === impl Domain ===

impl Domain {
    /// Compiles a domain name: its TLS configuration (when it has a certificate) and mappings.
    pub fn compile(
        name: &str,
        tls: Option<TlsInput<'_>>,
        mut mappings: Vec<Mapping>,
    ) -> Result<Domain, String> {
        let mutual_tls = tls.is_some_and(|t| t.truststore_pem.is_some());
        let tls = tls.map(server_config).transpose()?;
        mappings.sort_by(|a, b| b.key.len().cmp(&a.key.len()).then(a.key.cmp(&b.key)));
        Ok(Domain {
            name: name.to_ascii_lowercase().into(),
            mappings,
            tls,
            mutual_tls,
        })
    }

    /// The mapping for `path` and the path with its key stripped (`/` when nothing is left).
    pub fn map<'p>(&self, path: &'p str) -> Option<(&Mapping, &'p str)> {
        self.mappings.iter().find_map(|m| {
            if m.key.is_empty() {
                return Some((m, path));
            }
            let rest = path.strip_prefix('/')?.strip_prefix(&*m.key)?;
            if rest.is_empty() {
                Some((m, "/"))
            } else if rest.starts_with('/') {
                Some((m, rest))
            } else {
                None
            }
        })
    }
}

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// `host[:port]` → `host` (IPv6 literals are left alone: they are never domain names).
pub fn strip_port(host: &[u8]) -> &[u8] {
    match host.iter().rposition(|&b| b == b':') {
        Some(i) if host[i + 1..].iter().all(u8::is_ascii_digit) && !host.starts_with(b"[") => {
            &host[..i]
        }
        _ => host,
    }
}

/// The crypto provider every TLS configuration uses.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// One ticketer for the process: a ticket from any worker and any configuration resumes on
/// every other. `None` if it could not be made (no randomness): resumption is then off.
fn ticketer() -> Option<Arc<dyn ProducesTickets>> {
    static TICKETER: OnceLock<Option<Arc<dyn ProducesTickets>>> = OnceLock::new();
    TICKETER
        .get_or_init(|| rustls::crypto::ring::Ticketer::new().ok())
        .clone()
}

/// The certificates in a PEM text (at least one).
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a valid PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

/// Checks an imported certificate: the certificate parses, the key parses and belongs to it,
/// the chain parses. Returns what the certificate says.
pub fn check_certificate(
    certificate_pem: &str,
    private_key_pem: &str,
    chain_pem: Option<&str>,
) -> Result<CertInfo, String> {
    let key = certified_key(certificate_pem, chain_pem, private_key_pem)?;
    x509::parse(&key.cert[0]).ok_or_else(|| "the certificate could not be read".to_string())
}

fn certified_key(
    certificate_pem: &str,
    chain_pem: Option<&str>,
    private_key_pem: &str,
) -> Result<rustls::sign::CertifiedKey, String> {
    let mut chain = parse_certificates(certificate_pem)?;
    chain.truncate(1);
    if let Some(c) = chain_pem {
        chain.extend(parse_certificates(c)?);
    }
    let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
        .map_err(|e| format!("not a valid PEM private key: {e}"))?;
    let key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    let certified = rustls::sign::CertifiedKey::new(chain, key);
    certified
        .keys_match()
        .map_err(|_| "the private key does not match the certificate".to_string())?;
    Ok(certified)
}

/// A truststore's CA certificates.
pub fn parse_truststore(pem: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certificates(pem)? {
        roots
            .add(cert)
            .map_err(|e| format!("truststore certificate not usable: {e}"))?;
    }
    Ok(roots)
}

fn server_config(input: TlsInput<'_>) -> Result<Arc<ServerConfig>, String> {
    let key = certified_key(
        input.certificate_pem,
        input.chain_pem,
        input.private_key_pem,
    )?;
    let versions: &[&rustls::SupportedProtocolVersion] = match input.policy {
        TlsPolicy::Tls10 | TlsPolicy::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let builder = match input.truststore_pem {
        Some(pem) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(parse_truststore(pem)?),
                provider(),
            )
            .build()
            .map_err(|e| format!("truststore not usable: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(OneCertificate(Arc::new(key))));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Stateless tickets: no session cache shared (and locked) across workers.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    match ticketer() {
        Some(t) => {
            config.ticketer = t;
            config.send_tls13_tickets = 2;
        }
        None => config.send_tls13_tickets = 0,
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(key: &str) -> Mapping {
        Mapping {
            key: key.into(),
            api_id: key.into(),
            stage: None,
        }
    }

    #[test]
    fn lookup_and_mapping() {
        let d = Domain::compile(
            "API.example.test",
            None,
            vec![mapping(""), mapping("orders"), mapping("orders/v1")],
        )
        .unwrap();
        let w = Domain::compile("*.wild.test", None, vec![]).unwrap();
        let domains = Domains::new([d, w]);
        assert!(domains.get(b"api.EXAMPLE.test:8443").is_some());
        assert!(domains.get(b"api.example.test.").is_some());
        assert!(domains.get(b"other.example.test").is_none());
        assert_eq!(&*domains.get(b"a.wild.test").unwrap().name, "*.wild.test");
        assert!(domains.get(b"wild.test").is_none());
        assert!(domains.get(&[b'a'; 400]).is_none());
        let d = domains.get(b"api.example.test").unwrap();
        let cases = [
            ("/orders/v1/items", "orders/v1", "/items"),
            ("/orders/v1", "orders/v1", "/"),
            ("/orders/v2", "orders", "/v2"),
            ("/ordersx", "", "/ordersx"),
            ("/", "", "/"),
        ];
        for (path, key, rest) in cases {
            let (m, r) = d.map(path).unwrap();
            assert_eq!((&*m.key, r), (key, rest), "{path}");
        }
    }
}
