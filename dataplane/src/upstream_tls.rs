//! Upstream TLS: the rustls client configuration every outbound connection shares.
//!
//! # Architecture
//! 1. [`client_config`] builds one `rustls::ClientConfig` at boot: the `ring` provider,
//!    Mozilla's roots (`webpki-roots`, compiled in: no system store to read), plus the PEM
//!    bundle of `--upstream-ca-file` for private CAs. No client certificate, no ALPN
//!    (HTTP/1.1 only).
//! 2. `upstream::connect` runs the handshake on a fresh TCP connection with the endpoint's
//!    server name (SNI, and the name the certificate must carry); the handshake is bounded with
//!    the connect by the integration timeout. The session is then pooled like a plain
//!    connection, keyed by address and server name.
//!
//! Invariant: certificate checks are never disabled: an untrusted upstream fails the request
//! (502/504 per API type), it is not served.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The client configuration: public roots, plus the certificates of `extra_ca_pem` (a PEM
/// bundle) when given. Fails on a bundle without certificates or with a malformed one.
pub fn client_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("invalid PEM certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no certificate in the CA bundle".into());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles() {
        assert!(client_config(None).is_ok());
        assert!(client_config(Some(b"")).is_err());
        assert!(client_config(Some(
            b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
        ))
        .is_err());
    }
}
