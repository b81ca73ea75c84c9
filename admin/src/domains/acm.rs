//! Certificates on the admin listener in AWS Certificate Manager's own protocol (JSON 1.1,
//! `POST /` with `X-Amz-Target: CertificateManager.<Operation>`), so `aws acm
//! import-certificate --endpoint-url ...` and boto3's `acm` client work unchanged.
//!
//! Operations: `ImportCertificate` (a new ARN, or re-import under `CertificateArn`: the
//! rotation path, served by the next handshake), `ListCertificates`, `DescribeCertificate`,
//! `GetCertificate`, `DeleteCertificate` (refused while a domain name uses it), and the tags:
//! `ListTagsForCertificate`, `AddTagsToCertificate`, `RemoveTagsFromCertificate`. PEM blobs arrive
//! base64-encoded, as the JSON protocol sends blobs. Errors are ACM's: status 400 with
//! `{"__type": "...", "message": "..."}`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use portico_shared::limits::{ACM_LIST_MAX, ACM_PEM_MAX_BYTES};

use super::{delete, row, CertRecord, DomainState};
use crate::error::ApiError;
use crate::store::Kind;
use crate::AdminState;

/// The `X-Amz-Target` prefix of ACM operations.
pub(crate) const TARGET_PREFIX: &str = "CertificateManager.";

/// An ACM error.
#[derive(Debug)]
pub(crate) struct AcmError {
    code: &'static str,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportInput {
    certificate_arn: Option<String>,
    certificate: Option<String>,
    private_key: Option<String>,
    certificate_chain: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// One ACM tag (`{"Key", "Value"}`; the value may be absent).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagsInput {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArnInput {
    certificate_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    max_items: Option<usize>,
    next_token: Option<String>,
}

// === impl AcmError ===

impl AcmError {
    /// What went wrong, for logs.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    fn validation(message: impl Into<String>) -> AcmError {
        AcmError {
            code: "ValidationException",
            message: message.into(),
        }
    }

    fn not_found(arn: &str) -> AcmError {
        AcmError {
            code: "ResourceNotFoundException",
            message: format!("Could not find certificate {arn}."),
        }
    }
}

impl From<ApiError> for AcmError {
    fn from(e: ApiError) -> AcmError {
        match e {
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "certificate store failure");
                AcmError {
                    code: "InternalFailure",
                    message: "Internal error".into(),
                }
            }
            other => AcmError::validation(other.message()),
        }
    }
}

impl IntoResponse for AcmError {
    fn into_response(self) -> Response {
        let status = if self.code == "InternalFailure" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        r.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        r
    }
}

/// `POST /` with an ACM target.
pub(crate) async fn dispatch(
    State(s): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(op) = target.strip_prefix(TARGET_PREFIX) else {
        return AcmError {
            code: "UnknownOperationException",
            message: format!("Unknown X-Amz-Target {target:?}"),
        }
        .into_response();
    };
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    let result = match op {
        "ImportCertificate" => import(&s, body).await,
        "ListCertificates" => list(&s, body).await,
        "DescribeCertificate" => describe(&s, body).await,
        "GetCertificate" => get(&s, body).await,
        "DeleteCertificate" => remove(&s, body).await,
        "ListTagsForCertificate" => list_tags(&s, body).await,
        "AddTagsToCertificate" => retag(&s, body, true).await,
        "RemoveTagsFromCertificate" => retag(&s, body, false).await,
        other => Err(AcmError {
            code: "UnknownOperationException",
            message: format!("Operation {other} is not supported by Portico"),
        }),
    };
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AcmError> {
    serde_json::from_slice(body).map_err(|e| AcmError::validation(format!("Invalid request: {e}")))
}

/// A blob member: base64 of PEM text.
fn pem(member: &str, value: Option<&str>) -> Result<Option<String>, AcmError> {
    let Some(v) = value else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|_| AcmError::validation(format!("{member} is not valid base64")))?;
    if bytes.len() > ACM_PEM_MAX_BYTES {
        return Err(AcmError::validation(format!("{member} is too large")));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| AcmError::validation(format!("{member} is not PEM text")))
}

/// `arn:aws:acm:{region}:{account}:certificate/{id}`, in the current request's region (else
/// the node's default region).
pub(crate) fn arn(id: &str) -> String {
    arn_in(&crate::region::current(), id)
}

/// `arn:aws:acm:{region}:{account}:certificate/{id}`.
fn arn_in(region: &str, id: &str) -> String {
    let account = std::env::var("PORTICO_ACCOUNT_ID").unwrap_or_else(|_| "000000000000".into());
    format!("arn:aws:acm:{region}:{account}:certificate/{id}")
}

/// The region an ACM ARN names (`arn:aws:acm:{region}:...`).
fn region_of(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:aws:acm:")?.split(':').next()
}

/// A new ARN with a random UUID-shaped id, as ACM gives, in `region`.
fn new_arn(region: &str) -> String {
    let hex: String = crate::ids::generate(32)
        .bytes()
        .map(|b| char::from(b"0123456789abcdef"[usize::from(b % 16)]))
        .collect();
    arn_in(
        region,
        &format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ),
    )
}

async fn import(s: &AdminState, body: &[u8]) -> Result<Value, AcmError> {
    let input: ImportInput = parse(body)?;
    let certificate = pem("Certificate", input.certificate.as_deref())?
        .ok_or_else(|| AcmError::validation("Certificate is required"))?;
    let key = pem("PrivateKey", input.private_key.as_deref())?
        .ok_or_else(|| AcmError::validation("PrivateKey is required"))?;
    let chain = pem("CertificateChain", input.certificate_chain.as_deref())?;
    let target = match input.certificate_arn {
        Some(arn) if region_of(&arn) != Some(&*crate::region::current()) => {
            return Err(AcmError::not_found(&arn))
        }
        Some(arn) => Target::Existing(arn),
        None => Target::New,
    };
    let arn = put(s, target, certificate, chain, key).await?;
    if !input.tags.is_empty() {
        edit_tags(s, arn.clone(), input.tags, true).await?;
    }
    Ok(json!({ "CertificateArn": arn }))
}

async fn list_tags(s: &AdminState, body: &[u8]) -> Result<Value, AcmError> {
    let arn = arn_of(body)?;
    let tags = s
        .read(|c| Ok(c.domains.certs.get(&arn).map(|r| r.tags.clone())))
        .await?
        .ok_or_else(|| AcmError::not_found(&arn))?;
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    Ok(json!({ "Tags": tags }))
}

/// `AddTagsToCertificate` (`add`) and `RemoveTagsFromCertificate`.
async fn retag(s: &AdminState, body: &[u8], add: bool) -> Result<Value, AcmError> {
    let arn = arn_of(body)?;
    let input: TagsInput = parse(body)?;
    if input.tags.is_empty() {
        return Err(AcmError::validation("Tags must not be empty"));
    }
    edit_tags(s, arn, input.tags, add).await?;
    Ok(json!({}))
}

/// Adds `tags` to a certificate (or removes them: a removed tag with a value must match it).
async fn edit_tags(s: &AdminState, arn: String, tags: Vec<Tag>, add: bool) -> Result<(), AcmError> {
    if let Some(t) = tags.iter().find(|t| t.key.is_empty() || t.key.len() > 128) {
        return Err(AcmError::validation(format!("Invalid tag key '{}'", t.key)));
    }
    s.write(move |c| {
        let mut next = DomainState::clone(&c.domains);
        let Some(record) = next.certs.get_mut(&arn) else {
            return Ok(Err(AcmError::not_found(&arn)));
        };
        for t in tags {
            if add {
                record.tags.insert(t.key, t.value.unwrap_or_default());
            } else if t.value.is_none() || record.tags.get(&t.key) == t.value.as_ref() {
                record.tags.remove(&t.key);
            }
        }
        let change = row(Kind::Certificate, &arn, &*record);
        c.domain_ops().apply_domains(next, vec![change])?;
        Ok(Ok(()))
    })
    .await?
}

/// Which certificate record [`put`] writes.
pub(crate) enum Target {
    /// A new record under a new ARN.
    New,
    /// A re-import under this ARN, which must exist.
    Existing(String),
    /// This ARN, created when missing (certificate files in the data directory).
    Upsert(String),
}

/// Checks a certificate, its chain and key, and stores them (published for the next handshake).
/// Returns the ARN.
pub(crate) async fn put(
    s: &AdminState,
    target: Target,
    certificate: String,
    chain: Option<String>,
    key: String,
) -> Result<String, AcmError> {
    portico_shared::domain::check_certificate(&certificate, &key, chain.as_deref())
        .map_err(|e| AcmError::validation(format!("The certificate is not valid: {e}")))?;
    let region = crate::region::current();
    let arn = s
        .write(move |c| {
            let now = crate::ids::now_epoch();
            let mut next = DomainState::clone(&c.domains);
            let (arn, created_at, tags) = match target {
                Target::Existing(arn) => match next.certs.get(&arn) {
                    Some(old) => (arn, old.created_at, old.tags.clone()),
                    None => return Ok(Err(AcmError::not_found(&arn))),
                },
                Target::Upsert(arn) => match next.certs.get(&arn) {
                    Some(old) => (arn, old.created_at, old.tags.clone()),
                    None => (arn, now, BTreeMap::new()),
                },
                Target::New => (new_arn(&region), now, BTreeMap::new()),
            };
            let record = CertRecord {
                arn: arn.clone(),
                certificate_pem: certificate,
                chain_pem: chain,
                private_key_pem: key,
                created_at,
                imported_at: now,
                tags,
            };
            let change = row(Kind::Certificate, &arn, &record);
            next.certs.insert(arn.clone(), record);
            c.domain_ops().apply_domains(next, vec![change])?;
            Ok(Ok(arn))
        })
        .await??;
    Ok(arn)
}

async fn list(s: &AdminState, body: &[u8]) -> Result<Value, AcmError> {
    let input: ListInput = parse(body)?;
    let max = input
        .max_items
        .unwrap_or(ACM_LIST_MAX)
        .clamp(1, ACM_LIST_MAX);
    let region = crate::region::current();
    let page = s
        .read(|c| {
            let mut items = Vec::new();
            let mut next = None;
            let start = input.next_token.clone().unwrap_or_default();
            let here = c.domains.certs.range(start..);
            for (arn, cert) in here.filter(|(arn, _)| region_of(arn) == Some(&*region)) {
                if items.len() == max {
                    next = Some(arn.clone());
                    break;
                }
                items.push(summary(cert, &c.domains));
            }
            Ok((items, next))
        })
        .await?;
    let mut out = json!({ "CertificateSummaryList": page.0 });
    if let Some(n) = page.1 {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

async fn describe(s: &AdminState, body: &[u8]) -> Result<Value, AcmError> {
    let arn = arn_of(body)?;
    let cert = s
        .read(|c| Ok(c.domains.certs.get(&arn).map(|r| detail(r, &c.domains))))
        .await?;
    let cert = cert.ok_or_else(|| AcmError::not_found(&arn))?;
    Ok(json!({ "Certificate": cert }))
}

async fn get(s: &AdminState, body: &[u8]) -> Result<Value, AcmError> {
    let arn = arn_of(body)?;
    let cert = s
        .read(|c| Ok(c.domains.certs.get(&arn).cloned()))
        .await?
        .ok_or_else(|| AcmError::not_found(&arn))?;
    let mut out = json!({ "Certificate": cert.certificate_pem });
    if let Some(chain) = cert.chain_pem {
        out["CertificateChain"] = json!(chain);
    }
    Ok(out)
}

async fn remove(s: &AdminState, body: &[u8]) -> Result<Value, AcmError> {
    let arn = arn_of(body)?;
    s.write(move |c| {
        if !c.domains.certs.contains_key(&arn) {
            return Ok(Err(AcmError::not_found(&arn)));
        }
        let users = c.domains.users_of(&arn);
        if !users.is_empty() {
            return Ok(Err(AcmError {
                code: "ResourceInUseException",
                message: format!(
                    "Certificate {arn} is in use by the domain name {}",
                    users[0].domain_name
                ),
            }));
        }
        let mut next = DomainState::clone(&c.domains);
        next.certs.remove(&arn);
        c.domain_ops()
            .apply_domains(next, vec![delete(Kind::Certificate, &arn)])?;
        Ok(Ok(()))
    })
    .await??;
    Ok(json!({}))
}

fn arn_of(body: &[u8]) -> Result<String, AcmError> {
    let input: ArnInput = parse(body)?;
    let arn = input
        .certificate_arn
        .ok_or_else(|| AcmError::validation("CertificateArn is required"))?;
    if !arn.starts_with("arn:aws:acm:") || !arn.contains(":certificate/") {
        return Err(AcmError {
            code: "InvalidArnException",
            message: format!("String '{arn}' is not a valid ARN."),
        });
    }
    // ACM keeps each region apart: another region's certificate is not found here.
    if region_of(&arn) != Some(&*crate::region::current()) {
        return Err(AcmError::not_found(&arn));
    }
    Ok(arn)
}

/// The facts ACM shows of a certificate.
fn facts(r: &CertRecord) -> Option<portico_shared::x509::CertInfo> {
    let der = portico_shared::domain::parse_certificates(&r.certificate_pem).ok()?;
    portico_shared::x509::parse(&der[0])
}

fn names(info: &portico_shared::x509::CertInfo) -> (String, Vec<String>) {
    let domain = info
        .common_name
        .clone()
        .or_else(|| info.dns_names.first().cloned())
        .unwrap_or_default();
    let mut sans = info.dns_names.clone();
    if sans.is_empty() && !domain.is_empty() {
        sans.push(domain.clone());
    }
    (domain, sans)
}

fn in_use_by(arn: &str, domains: &DomainState) -> Vec<String> {
    domains
        .users_of(arn)
        .iter()
        .map(|d| d.domain_name.clone())
        .collect()
}

fn summary(r: &CertRecord, domains: &DomainState) -> Value {
    let info = facts(r);
    let (domain, sans) = info.as_ref().map(names).unwrap_or_default();
    json!({
        "CertificateArn": r.arn,
        "DomainName": domain,
        "SubjectAlternativeNameSummaries": sans,
        "Status": "ISSUED",
        "Type": "IMPORTED",
        "InUse": !domains.users_of(&r.arn).is_empty(),
        "NotBefore": info.as_ref().map(|i| i.not_before_s),
        "NotAfter": info.as_ref().map(|i| i.not_after_s),
        "ImportedAt": r.imported_at,
        "CreatedAt": r.created_at,
    })
}

fn detail(r: &CertRecord, domains: &DomainState) -> Value {
    let info = facts(r);
    let (domain, sans) = info.as_ref().map(names).unwrap_or_default();
    json!({
        "CertificateArn": r.arn,
        "DomainName": domain,
        "SubjectAlternativeNames": sans,
        "Serial": info.as_ref().map(|i| i.serial.clone()),
        "Subject": info.as_ref().map(|i| i.subject.clone()),
        "Issuer": info.as_ref().map(|i| i.issuer.clone()),
        "NotBefore": info.as_ref().map(|i| i.not_before_s),
        "NotAfter": info.as_ref().map(|i| i.not_after_s),
        "ImportedAt": r.imported_at,
        "CreatedAt": r.created_at,
        "Status": "ISSUED",
        "Type": "IMPORTED",
        "InUseBy": in_use_by(&r.arn, domains),
    })
}
