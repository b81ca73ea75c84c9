//! Certificates (ACM's `ImportCertificate`...), custom domain names (v1 and v2) and their API
//! mappings (v2 API mappings, v1 base path mappings): records, operations and what of them is
//! published.
//!
//! # Architecture
//! 1. [`DomainState`] holds the records; they live in the store under [`DOMAIN_SCOPE`]. One
//!    domain record serves both control planes (AWS shows a domain created through either API in
//!    both), and one mapping record is a v2 API mapping and a v1 base path mapping at once.
//! 2. Every change builds the next state, compiles every domain into
//!    `portico_shared::domain::Domains` (rustls configurations included: a bad key or truststore
//!    is a 400 here, never a handshake failure later), commits, then publishes
//!    `current.with_domains(...)`. Re-importing a certificate under its ARN publishes the new
//!    certificate for the next handshake; open connections keep theirs.
//! 3. Truststores (`mutualTlsAuthentication.truststoreUri`) are `file://` URIs read when the
//!    domain is created or updated (relative paths from the data directory); the PEM is stored
//!    in the record, so a later change to the file needs an update of the domain, as AWS needs
//!    a new `truststoreVersion`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use portico_shared::domain::{Domain, Domains, Mapping, TlsInput, TlsPolicy};
use portico_shared::limits::{DOMAIN_NAME_MAX_BYTES, TRUSTSTORE_MAX_BYTES};
use portico_shared::model::EndpointType;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::publish::{parse_doc, Publisher};
use crate::store::{Change, Kind, Row};

pub(crate) mod acm;
pub(crate) mod files;
mod routes;

pub(crate) use routes::router;

/// The `api_id` under which certificates, domain names and mappings are stored.
pub(crate) const DOMAIN_SCOPE: &str = "$domains";

/// An imported certificate (ACM).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertRecord {
    pub(crate) arn: String,
    pub(crate) certificate_pem: String,
    #[serde(default)]
    pub(crate) chain_pem: Option<String>,
    pub(crate) private_key_pem: String,
    /// Epoch seconds of the first import and of the latest one.
    pub(crate) created_at: i64,
    pub(crate) imported_at: i64,
    /// ACM tags (`ImportCertificate`'s `Tags`, `AddTagsToCertificate`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tags: BTreeMap<String, String>,
}

/// A custom domain name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DomainRecord {
    /// Lowercase.
    pub(crate) domain_name: String,
    pub(crate) certificate_arn: String,
    /// `REGIONAL` or `EDGE` (served alike; `PRIVATE` is refused).
    pub(crate) endpoint_type: EndpointType,
    /// `TLS_1_0` or `TLS_1_2`.
    pub(crate) security_policy: String,
    #[serde(default)]
    pub(crate) mutual_tls: Option<MutualTls>,
    pub(crate) created_at: i64,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

/// A domain's mutual TLS settings and the truststore read from `truststore_uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MutualTls {
    pub(crate) truststore_uri: String,
    #[serde(default)]
    pub(crate) truststore_version: Option<String>,
    pub(crate) truststore_pem: String,
}

/// An API mapping of a domain name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MappingRecord {
    pub(crate) id: String,
    pub(crate) domain_name: String,
    pub(crate) api_id: String,
    /// `None`: a v1 base path mapping without a stage.
    pub(crate) stage: Option<String>,
    /// Segments without leading or trailing `/`; empty maps the whole domain.
    pub(crate) key: String,
}

/// Every certificate, domain name and mapping.
#[derive(Debug, Default, Clone)]
pub(crate) struct DomainState {
    /// By ARN.
    pub(crate) certs: BTreeMap<String, CertRecord>,
    /// By domain name.
    pub(crate) domains: BTreeMap<String, DomainRecord>,
    /// By `{domainName}/{mappingId}`.
    pub(crate) mappings: BTreeMap<String, MappingRecord>,
}

// === impl DomainState ===

impl DomainState {
    /// Rebuilds the state from the documents under [`DOMAIN_SCOPE`].
    pub(crate) fn load(rows: Vec<Row>) -> Result<DomainState, ApiError> {
        let mut state = DomainState::default();
        for row in rows {
            match row.kind {
                Kind::Certificate => {
                    let c: CertRecord = parse_doc(&row)?;
                    state.certs.insert(c.arn.clone(), c);
                }
                Kind::DomainName => {
                    let d: DomainRecord = parse_doc(&row)?;
                    state.domains.insert(d.domain_name.clone(), d);
                }
                Kind::ApiMapping => {
                    let m: MappingRecord = parse_doc(&row)?;
                    state.mappings.insert(row.id.clone(), m);
                }
                other => tracing::warn!(kind = other.as_str(), id = %row.id,
                    "unexpected document under the domain scope; ignored"),
            }
        }
        Ok(state)
    }

    /// Compiles every domain name; `Err` lists the domains that do not compile.
    pub(crate) fn compile(&self) -> Result<Domains, Vec<String>> {
        let mut out = Vec::with_capacity(self.domains.len());
        let mut errors = Vec::new();
        for d in self.domains.values() {
            match self.compile_one(d) {
                Ok(c) => out.push(c),
                Err(e) => errors.push(format!("{}: {e}", d.domain_name)),
            }
        }
        if errors.is_empty() {
            Ok(Domains::new(out))
        } else {
            Err(errors)
        }
    }

    /// Compiles what can be compiled (at start: a domain that no longer compiles is logged and
    /// not served).
    pub(crate) fn compile_lenient(&self) -> Domains {
        let mut out = Vec::with_capacity(self.domains.len());
        for d in self.domains.values() {
            match self.compile_one(d) {
                Ok(c) => out.push(c),
                Err(e) => tracing::error!(domain = %d.domain_name, error = %e,
                    "stored domain name does not compile; not served until it is changed"),
            }
        }
        Domains::new(out)
    }

    fn compile_one(&self, d: &DomainRecord) -> Result<Domain, String> {
        let cert = self
            .certs
            .get(&d.certificate_arn)
            .ok_or_else(|| format!("certificate {} not found", d.certificate_arn))?;
        let tls = TlsInput {
            certificate_pem: &cert.certificate_pem,
            chain_pem: cert.chain_pem.as_deref(),
            private_key_pem: &cert.private_key_pem,
            policy: policy(&d.security_policy)?,
            truststore_pem: d.mutual_tls.as_ref().map(|m| m.truststore_pem.as_str()),
        };
        let mappings = self
            .mappings_of(&d.domain_name)
            .map(|m| Mapping {
                key: m.key.as_str().into(),
                api_id: m.api_id.as_str().into(),
                stage: m.stage.as_deref().map(Into::into),
            })
            .collect();
        Domain::compile(&d.domain_name, Some(tls), mappings)
    }

    /// The mappings of `domain`, in id order.
    pub(crate) fn mappings_of<'a>(
        &'a self,
        domain: &'a str,
    ) -> impl Iterator<Item = &'a MappingRecord> + 'a {
        let prefix = format!("{domain}/");
        self.mappings
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, m)| m)
    }

    /// The domains that use certificate `arn`.
    pub(crate) fn users_of(&self, arn: &str) -> Vec<&DomainRecord> {
        self.domains
            .values()
            .filter(|d| d.certificate_arn == arn)
            .collect()
    }

    pub(crate) fn domain(&self, name: &str) -> Result<&DomainRecord, ApiError> {
        self.domains
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| ApiError::NotFound("Invalid domain name identifier specified".into()))
    }
}

/// `securityPolicy` → the TLS versions a domain accepts.
pub(crate) fn policy(name: &str) -> Result<TlsPolicy, String> {
    match name {
        "TLS_1_0" => Ok(TlsPolicy::Tls10),
        "TLS_1_2" => Ok(TlsPolicy::Tls12),
        other => Err(format!(
            "Invalid securityPolicy {other:?}: must be TLS_1_0 or TLS_1_2"
        )),
    }
}

/// Whether `name` can be a custom domain name: DNS labels (letters, digits, `-`), at least
/// two, optionally `*.` first.
pub(crate) fn valid_domain_name(name: &str) -> bool {
    let body = name.strip_prefix("*.").unwrap_or(name);
    name.len() <= DOMAIN_NAME_MAX_BYTES
        && body.contains('.')
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks an API mapping key: segments of letters, digits, `-`, `_`, `.`, separated by `/`.
pub(crate) fn valid_mapping_key(key: &str) -> bool {
    key.is_empty()
        || (key.len() <= 512
            && key.split('/').all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            }))
}

/// Reads a truststore named by `uri`: `file://` + an absolute path, or a path relative to the
/// data directory.
pub(crate) fn read_truststore(uri: &str, data_dir: &Path) -> Result<String, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let path = uri.strip_prefix("file://").ok_or_else(|| {
        bad(format!(
            "Invalid truststoreUri {uri:?}: Portico reads truststores from file:// URIs \
             (absolute, or relative to the data directory)"
        ))
    })?;
    let path = if Path::new(path).is_absolute() {
        Path::new(path).to_path_buf()
    } else {
        data_dir.join(path)
    };
    let meta = std::fs::metadata(&path)
        .map_err(|e| bad(format!("Truststore {uri} could not be read: {e}")))?;
    if meta.len() > TRUSTSTORE_MAX_BYTES {
        return Err(bad(format!(
            "Truststore {uri} is larger than {TRUSTSTORE_MAX_BYTES} bytes"
        )));
    }
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| bad(format!("Truststore {uri} could not be read: {e}")))?;
    portico_shared::domain::parse_truststore(&pem)
        .map_err(|e| bad(format!("Invalid truststore {uri}: {e}")))?;
    Ok(pem)
}

// === domain operations ===

/// What mapping checks read of the APIs: a read-only view the catalog lends, so domains need
/// nothing else of the API state.
pub(crate) trait ApiStages {
    /// `None` when there is no HTTP, WebSocket or REST API `api_id`; else whether it has the
    /// stage `stage` (any stage when `None`).
    fn has_stage(&self, api_id: &str, stage: Option<&str>) -> Option<bool>;
}

/// A domain operation's reach: the domain state, the publisher it commits and publishes
/// through, and the APIs that mappings name (read only).
pub(crate) struct DomainOps<'a, A: ApiStages> {
    pub(crate) domains: &'a mut DomainState,
    pub(crate) publisher: &'a mut Publisher,
    pub(crate) apis: A,
}

impl<A: ApiStages> DomainOps<'_, A> {
    /// Replaces the domain state with `next`: compiles it (an error is a 400 and changes
    /// nothing), commits `changes`, publishes.
    pub(crate) fn apply_domains(
        &mut self,
        next: DomainState,
        changes: Vec<Change>,
    ) -> Result<(), ApiError> {
        let compiled = next.compile().map_err(|e| ApiError::invalid(&e))?;
        self.publisher.commit(&changes)?;
        *self.domains = next;
        let compiled = Arc::new(compiled);
        self.publisher
            .publish(|current, generation| current.with_domains(generation, compiled));
        Ok(())
    }

    /// Whether `api_id` names an HTTP or REST API with stage `stage` (any stage when `None`).
    pub(crate) fn check_mapping_target(
        &self,
        api_id: &str,
        stage: Option<&str>,
    ) -> Result<(), ApiError> {
        match (self.apis.has_stage(api_id, stage), stage) {
            (None, _) => Err(ApiError::BadRequest(format!(
                "Invalid API identifier specified {api_id}"
            ))),
            (Some(false), Some(s)) => Err(ApiError::BadRequest(format!(
                "Invalid stage identifier specified: {s}"
            ))),
            _ => Ok(()),
        }
    }
}

/// A stored row of the domain scope.
pub(crate) fn row<T: Serialize>(kind: Kind, id: &str, doc: &T) -> Change {
    Change::Put(Row {
        api_id: DOMAIN_SCOPE.into(),
        kind,
        id: id.into(),
        doc: serde_json::to_string(doc).unwrap_or_default(),
    })
}

/// A deletion in the domain scope.
pub(crate) fn delete(kind: Kind, id: &str) -> Change {
    Change::Delete {
        api_id: DOMAIN_SCOPE.into(),
        kind,
        id: id.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        for ok in ["api.example.test", "*.example.test", "a-b.c"] {
            assert!(valid_domain_name(ok), "{ok}");
        }
        for bad in ["example", "-a.b", "a..b", "a.b/c", "*.b", "a b.c"] {
            assert!(!valid_domain_name(bad), "{bad}");
        }
        for ok in ["", "orders", "orders/v1", "v1.2"] {
            assert!(valid_mapping_key(ok), "{ok}");
        }
        for bad in ["/orders", "orders/", "a//b", "a b", "a?b"] {
            assert!(!valid_mapping_key(bad), "{bad}");
        }
    }
}
