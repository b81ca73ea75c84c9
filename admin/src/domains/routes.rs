//! The custom domain name routes: v2 (`/v2/domainnames`, API mappings) and v1
//! (`/domainnames`, base path mappings), thin handlers over the shared operations below.

use std::path::PathBuf;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use portico_shared::limits::API_MAPPINGS_PER_DOMAIN_MAX;

use super::{
    delete, read_truststore, row, valid_domain_name, valid_mapping_key, ApiStages, DomainOps,
    DomainRecord, DomainState, MappingRecord, MutualTls,
};
use crate::error::ApiError;
use crate::page::{page as v1_page, Listing};
use crate::store::Kind;
use crate::wire::{accepted, created, no_content, ok, page, Body, Paging, Params};
use crate::AdminState;
use portico_shared::model::EndpointType;

/// The routes of both control planes.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v2/domainnames", get(v2_list).post(v2_create))
        .route(
            "/v2/domainnames/{name}",
            get(v2_get).patch(v2_update).delete(v2_delete),
        )
        .route(
            "/v2/domainnames/{name}/apimappings",
            get(v2_mappings).post(v2_create_mapping),
        )
        .route(
            "/v2/domainnames/{name}/apimappings/{id}",
            get(v2_get_mapping)
                .patch(v2_update_mapping)
                .delete(v2_delete_mapping),
        )
        .route("/domainnames", get(v1_list).post(v1_create))
        .route(
            "/domainnames/{name}",
            get(v1_get).patch(v1_update).delete(v1_delete),
        )
        .route(
            "/domainnames/{name}/basepathmappings",
            get(v1_mappings).post(v1_create_mapping),
        )
        .route(
            "/domainnames/{name}/basepathmappings/{base_path}",
            get(v1_get_mapping)
                .patch(v1_update_mapping)
                .delete(v1_delete_mapping),
        )
}

/// What both `CreateDomainName`s and `UpdateDomainName`s set.
#[derive(Debug, Default)]
struct DomainInput {
    certificate_arn: Option<String>,
    endpoint_type: Option<String>,
    security_policy: Option<String>,
    /// `Some(None)`: mutual TLS turned off.
    mutual_tls: Option<Option<MutualTlsInput>>,
    tags: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MutualTlsInput {
    truststore_uri: Option<String>,
    truststore_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2DomainBody {
    domain_name: Option<String>,
    #[serde(default)]
    domain_name_configurations: Vec<V2Configuration>,
    mutual_tls_authentication: Option<MutualTlsInput>,
    tags: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Configuration {
    certificate_arn: Option<String>,
    endpoint_type: Option<String>,
    security_policy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1DomainBody {
    domain_name: Option<String>,
    certificate_arn: Option<String>,
    regional_certificate_arn: Option<String>,
    endpoint_configuration: Option<V1EndpointConfiguration>,
    security_policy: Option<String>,
    mutual_tls_authentication: Option<MutualTlsInput>,
    tags: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1EndpointConfiguration {
    #[serde(default)]
    types: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MappingBody {
    api_id: Option<String>,
    api_mapping_key: Option<String>,
    stage: Option<String>,
    /// v1 names.
    rest_api_id: Option<String>,
    base_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchBody {
    #[serde(default)]
    patch_operations: Vec<PatchOperation>,
}

#[derive(Debug, Deserialize)]
struct PatchOperation {
    op: String,
    path: String,
    value: Option<String>,
}

// === operations ===

impl<A: ApiStages> DomainOps<'_, A> {
    fn create_domain(
        &mut self,
        name: Option<String>,
        input: DomainInput,
        data_dir: PathBuf,
    ) -> Result<DomainRecord, ApiError> {
        let name = name
            .ok_or_else(|| ApiError::BadRequest("domainName is required".into()))?
            .to_ascii_lowercase();
        if !valid_domain_name(&name) {
            return Err(ApiError::BadRequest(format!(
                "Invalid domain name {name:?}"
            )));
        }
        if self.domains.domains.contains_key(&name) {
            return Err(ApiError::Conflict(format!(
                "The domain name you provided already exists: {name}"
            )));
        }
        let mut record = DomainRecord {
            domain_name: name.clone(),
            certificate_arn: String::new(),
            endpoint_type: EndpointType::Regional,
            security_policy: "TLS_1_2".into(),
            mutual_tls: None,
            created_at: crate::ids::now_epoch(),
            tags: Default::default(),
        };
        if input.certificate_arn.is_none() {
            return Err(ApiError::BadRequest(
                "A certificate ARN is required (regionalCertificateArn, certificateArn or \
                 domainNameConfigurations[0].certificateArn)"
                    .into(),
            ));
        }
        self.fill_domain(&mut record, input, &data_dir)?;
        let mut next = DomainState::clone(self.domains);
        let change = row(Kind::DomainName, &name, &record);
        next.domains.insert(name, record.clone());
        self.apply_domains(next, vec![change])?;
        Ok(record)
    }

    fn update_domain(
        &mut self,
        name: &str,
        input: DomainInput,
        data_dir: PathBuf,
    ) -> Result<DomainRecord, ApiError> {
        let mut record = self.domains.domain(name)?.clone();
        self.fill_domain(&mut record, input, &data_dir)?;
        let mut next = DomainState::clone(self.domains);
        let change = row(Kind::DomainName, &record.domain_name, &record);
        next.domains
            .insert(record.domain_name.clone(), record.clone());
        self.apply_domains(next, vec![change])?;
        Ok(record)
    }

    /// Applies `input` to `record`, checking every member; every problem in one 400.
    fn fill_domain(
        &self,
        record: &mut DomainRecord,
        input: DomainInput,
        data_dir: &std::path::Path,
    ) -> Result<(), ApiError> {
        let mut problems = Vec::new();
        if let Some(arn) = input.certificate_arn {
            if !self.domains.certs.contains_key(&arn) {
                problems.push(format!(
                    "Invalid certificate ARN: {arn}. Certificate must be imported (ACM ImportCertificate) first"
                ));
            }
            record.certificate_arn = arn;
        }
        if let Some(t) = input.endpoint_type {
            match t.parse() {
                Ok(e @ (EndpointType::Regional | EndpointType::Edge)) => record.endpoint_type = e,
                Ok(EndpointType::Private) | Err(_) => problems.push(format!(
                    "Invalid endpoint type {t:?}: must be REGIONAL or EDGE"
                )),
            }
        }
        if let Some(p) = input.security_policy {
            if let Err(e) = super::policy(&p) {
                problems.push(e);
            }
            record.security_policy = p;
        }
        if let Some(m) = input.mutual_tls {
            record.mutual_tls = match m {
                None => None,
                Some(m) => match m.truststore_uri {
                    None => {
                        problems.push("mutualTlsAuthentication.truststoreUri is required".into());
                        None
                    }
                    Some(uri) => match read_truststore(&uri, data_dir) {
                        Ok(pem) => Some(MutualTls {
                            truststore_uri: uri,
                            truststore_version: m.truststore_version,
                            truststore_pem: pem,
                        }),
                        Err(e) => {
                            problems.push(e.message().to_string());
                            None
                        }
                    },
                },
            };
        }
        if let Some(tags) = input.tags {
            record.tags = tags;
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&problems))
        }
    }

    fn delete_domain(&mut self, name: &str) -> Result<(), ApiError> {
        let name = self.domains.domain(name)?.domain_name.clone();
        let mut next = DomainState::clone(self.domains);
        let mut changes = vec![delete(Kind::DomainName, &name)];
        let ids: Vec<String> = next
            .mappings_of(&name)
            .map(|m| format!("{name}/{}", m.id))
            .collect();
        for id in ids {
            changes.push(delete(Kind::ApiMapping, &id));
            next.mappings.remove(&id);
        }
        next.domains.remove(&name);
        self.apply_domains(next, changes)
    }

    fn create_mapping(
        &mut self,
        domain: &str,
        api_id: Option<String>,
        stage: Option<String>,
        key: String,
        stage_required: bool,
    ) -> Result<MappingRecord, ApiError> {
        let domain = self.domains.domain(domain)?.domain_name.clone();
        let api_id = api_id.ok_or_else(|| ApiError::BadRequest("apiId is required".into()))?;
        if stage_required && stage.is_none() {
            return Err(ApiError::BadRequest("stage is required".into()));
        }
        if !valid_mapping_key(&key) {
            return Err(ApiError::BadRequest(format!(
                "Invalid API mapping key {key:?}: path segments of letters, digits, '-', '_' \
                 and '.', separated by '/', without a leading or trailing '/'"
            )));
        }
        self.check_mapping_target(&api_id, stage.as_deref())?;
        let existing: Vec<&MappingRecord> = self.domains.mappings_of(&domain).collect();
        if existing.iter().any(|m| m.key == key) {
            return Err(ApiError::Conflict(format!(
                "An API mapping with key {key:?} already exists for {domain}"
            )));
        }
        if existing.len() >= API_MAPPINGS_PER_DOMAIN_MAX {
            return Err(ApiError::BadRequest(format!(
                "A domain name has at most {API_MAPPINGS_PER_DOMAIN_MAX} API mappings"
            )));
        }
        let record = MappingRecord {
            id: crate::ids::generate(6),
            domain_name: domain.clone(),
            api_id,
            stage,
            key,
        };
        let id = format!("{domain}/{}", record.id);
        let mut next = DomainState::clone(self.domains);
        let change = row(Kind::ApiMapping, &id, &record);
        next.mappings.insert(id, record.clone());
        self.apply_domains(next, vec![change])?;
        Ok(record)
    }

    fn update_mapping(
        &mut self,
        domain: &str,
        id: &str,
        body: MappingBody,
    ) -> Result<MappingRecord, ApiError> {
        let mut record = self.domains.mapping(domain, id)?.clone();
        if let Some(a) = body.api_id {
            record.api_id = a;
        }
        if let Some(s) = body.stage {
            record.stage = Some(s);
        }
        if let Some(k) = body.api_mapping_key {
            if !valid_mapping_key(&k) {
                return Err(ApiError::BadRequest(format!(
                    "Invalid API mapping key {k:?}"
                )));
            }
            if self
                .domains
                .mappings_of(&record.domain_name)
                .any(|m| m.key == k && m.id != record.id)
            {
                return Err(ApiError::Conflict(format!(
                    "An API mapping with key {k:?} already exists"
                )));
            }
            record.key = k;
        }
        self.check_mapping_target(&record.api_id, record.stage.as_deref())?;
        let key = format!("{}/{}", record.domain_name, record.id);
        let mut next = DomainState::clone(self.domains);
        let change = row(Kind::ApiMapping, &key, &record);
        next.mappings.insert(key, record.clone());
        self.apply_domains(next, vec![change])?;
        Ok(record)
    }

    fn delete_mapping(&mut self, domain: &str, id: &str) -> Result<(), ApiError> {
        let record = self.domains.mapping(domain, id)?;
        let key = format!("{}/{}", record.domain_name, record.id);
        let mut next = DomainState::clone(self.domains);
        next.mappings.remove(&key);
        self.apply_domains(next, vec![delete(Kind::ApiMapping, &key)])
    }
}

impl DomainState {
    fn mapping(&self, domain: &str, id: &str) -> Result<&MappingRecord, ApiError> {
        let domain = self.domain(domain)?;
        self.mappings
            .get(&format!("{}/{id}", domain.domain_name))
            .ok_or_else(|| ApiError::NotFound("Invalid mapping identifier specified".into()))
    }

    /// A v1 base path (`(none)` for the empty key) → the mapping's id.
    fn mapping_by_base_path(&self, domain: &str, base_path: &str) -> Result<String, ApiError> {
        let key = if base_path == "(none)" { "" } else { base_path };
        let d = self.domain(domain)?;
        self.mappings_of(&d.domain_name)
            .find(|m| m.key == key)
            .map(|m| m.id.clone())
            .ok_or_else(|| {
                ApiError::NotFound("Invalid base path mapping identifier specified".into())
            })
    }
}

// === wire shapes ===

fn v2_view(d: &DomainRecord, gateway_domain: &str) -> Value {
    let mut v = json!({
        "domainName": d.domain_name,
        "apiMappingSelectionExpression": "$request.basepath",
        "domainNameConfigurations": [{
            "apiGatewayDomainName": gateway_domain,
            "certificateArn": d.certificate_arn,
            "domainNameStatus": "AVAILABLE",
            "endpointType": d.endpoint_type,
            "securityPolicy": d.security_policy,
        }],
        "tags": d.tags,
    });
    if let Some(m) = &d.mutual_tls {
        v["mutualTlsAuthentication"] = json!({
            "truststoreUri": m.truststore_uri,
            "truststoreVersion": m.truststore_version,
            "truststoreWarnings": [],
        });
    }
    v
}

fn v1_view(d: &DomainRecord, gateway_domain: &str) -> Value {
    let mut v = json!({
        "domainName": d.domain_name,
        "domainNameStatus": "AVAILABLE",
        "endpointConfiguration": { "types": [d.endpoint_type] },
        "securityPolicy": d.security_policy,
        "certificateUploadDate": d.created_at,
        "tags": d.tags,
    });
    if d.endpoint_type == EndpointType::Edge {
        v["certificateArn"] = json!(d.certificate_arn);
        v["distributionDomainName"] = json!(gateway_domain);
    } else {
        v["regionalCertificateArn"] = json!(d.certificate_arn);
        v["regionalDomainName"] = json!(gateway_domain);
    }
    if let Some(m) = &d.mutual_tls {
        v["mutualTlsAuthentication"] = json!({
            "truststoreUri": m.truststore_uri,
            "truststoreVersion": m.truststore_version,
            "truststoreWarnings": [],
        });
    }
    v
}

fn v2_mapping_view(m: &MappingRecord) -> Value {
    json!({
        "apiId": m.api_id,
        "apiMappingId": m.id,
        "apiMappingKey": m.key,
        "stage": m.stage,
    })
}

fn v1_mapping_view(m: &MappingRecord) -> Value {
    json!({
        "basePath": if m.key.is_empty() { "(none)" } else { m.key.as_str() },
        "restApiId": m.api_id,
        "stage": m.stage,
    })
}

fn gateway_domain(s: &AdminState) -> String {
    s.endpoint().domain.clone()
}

fn data_dir(s: &AdminState) -> PathBuf {
    s.endpoint().data_dir.clone()
}

// === v2 handlers ===

async fn v2_create(State(s): State<AdminState>, Body(b): Body<V2DomainBody>) -> Response {
    let (gw, dir) = (gateway_domain(&s), data_dir(&s));
    let input = v2_input(
        b.domain_name_configurations,
        b.mutual_tls_authentication,
        b.tags,
    );
    let name = b.domain_name;
    created(
        s.write(move |c| c.domain_ops().create_domain(name, input?, dir))
            .await
            .map(|d| v2_view(&d, &gw)),
    )
}

fn v2_input(
    configurations: Vec<V2Configuration>,
    mutual_tls: Option<MutualTlsInput>,
    tags: Option<std::collections::BTreeMap<String, String>>,
) -> Result<DomainInput, ApiError> {
    if configurations.len() > 1 {
        return Err(ApiError::BadRequest(
            "Portico serves one domainNameConfiguration per domain name".into(),
        ));
    }
    let c = configurations.into_iter().next();
    Ok(DomainInput {
        certificate_arn: c.as_ref().and_then(|c| c.certificate_arn.clone()),
        endpoint_type: c.as_ref().and_then(|c| c.endpoint_type.clone()),
        security_policy: c.and_then(|c| c.security_policy),
        mutual_tls: mutual_tls.map(Some),
        tags,
    })
}

async fn v2_list(State(s): State<AdminState>, q: Paging) -> Response {
    let gw = gateway_domain(&s);
    let here = s.regions().here(crate::region::Class::DomainName);
    ok(s.read(|c| {
        let keep = |name: &str| here.contains(name);
        crate::wire::page_where(&c.domains.domains, &q.0, keep, |d| v2_view(d, &gw))
    })
    .await)
}

async fn v2_get(State(s): State<AdminState>, Params(name): Params<String>) -> Response {
    let gw = gateway_domain(&s);
    ok(s.read(|c| c.domains.domain(&name).map(|d| v2_view(d, &gw)))
        .await)
}

async fn v2_update(
    State(s): State<AdminState>,
    Params(name): Params<String>,
    Body(b): Body<V2DomainBody>,
) -> Response {
    let (gw, dir) = (gateway_domain(&s), data_dir(&s));
    let input = v2_input(
        b.domain_name_configurations,
        b.mutual_tls_authentication,
        b.tags,
    );
    ok(
        s.write(move |c| c.domain_ops().update_domain(&name, input?, dir))
            .await
            .map(|d| v2_view(&d, &gw)),
    )
}

async fn v2_delete(State(s): State<AdminState>, Params(name): Params<String>) -> Response {
    no_content(s.write(move |c| c.domain_ops().delete_domain(&name)).await)
}

async fn v2_create_mapping(
    State(s): State<AdminState>,
    Params(name): Params<String>,
    Body(b): Body<MappingBody>,
) -> Response {
    let key = b.api_mapping_key.unwrap_or_default();
    created(
        s.write(move |c| {
            c.domain_ops()
                .create_mapping(&name, b.api_id, b.stage, key, true)
        })
        .await
        .map(|m| v2_mapping_view(&m)),
    )
}

async fn v2_mappings(
    State(s): State<AdminState>,
    Params(name): Params<String>,
    q: Paging,
) -> Response {
    ok(s.read(|c| {
        let d = c.domains.domain(&name)?;
        let of: std::collections::BTreeMap<String, &MappingRecord> = c
            .domains
            .mappings_of(&d.domain_name)
            .map(|m| (m.id.clone(), m))
            .collect();
        page(&of, &q.0, |m| v2_mapping_view(m))
    })
    .await)
}

async fn v2_get_mapping(
    State(s): State<AdminState>,
    Params((name, id)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| c.domains.mapping(&name, &id).map(v2_mapping_view))
            .await,
    )
}

async fn v2_update_mapping(
    State(s): State<AdminState>,
    Params((name, id)): Params<(String, String)>,
    Body(b): Body<MappingBody>,
) -> Response {
    ok(
        s.write(move |c| c.domain_ops().update_mapping(&name, &id, b))
            .await
            .map(|m| v2_mapping_view(&m)),
    )
}

async fn v2_delete_mapping(
    State(s): State<AdminState>,
    Params((name, id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.domain_ops().delete_mapping(&name, &id))
            .await,
    )
}

// === v1 handlers ===

async fn v1_create(State(s): State<AdminState>, Body(b): Body<V1DomainBody>) -> Response {
    let (gw, dir) = (gateway_domain(&s), data_dir(&s));
    let types = b
        .endpoint_configuration
        .map(|e| e.types)
        .unwrap_or_default();
    let result = async {
        if types.len() > 1 {
            return Err(ApiError::BadRequest(
                "endpointConfiguration.types takes one type".into(),
            ));
        }
        let endpoint_type = types.into_iter().next();
        let edge = endpoint_type.as_deref().map(str::parse) == Some(Ok(EndpointType::Edge));
        let certificate_arn = if edge {
            b.certificate_arn.or(b.regional_certificate_arn)
        } else {
            b.regional_certificate_arn.or(b.certificate_arn)
        };
        let input = DomainInput {
            certificate_arn,
            endpoint_type: Some(
                endpoint_type.unwrap_or_else(|| EndpointType::Edge.as_str().into()),
            ),
            security_policy: b.security_policy,
            mutual_tls: b.mutual_tls_authentication.map(Some),
            tags: b.tags,
        };
        let name = b.domain_name;
        s.write(move |c| c.domain_ops().create_domain(name, input, dir))
            .await
    }
    .await;
    created(result.map(|d| v1_view(&d, &gw)))
}

async fn v1_list(State(s): State<AdminState>, RawQuery(q): RawQuery) -> Response {
    let gw = gateway_domain(&s);
    let here = s.regions().here(crate::region::Class::DomainName);
    ok(s.read(|c| {
        let q = Listing::parse(q.as_deref())?;
        let keep = |name: &str| here.contains(name);
        crate::page::page_where(&c.domains.domains, &q, keep, |d| v1_view(d, &gw))
    })
    .await)
}

async fn v1_get(State(s): State<AdminState>, Params(name): Params<String>) -> Response {
    let gw = gateway_domain(&s);
    ok(s.read(|c| c.domains.domain(&name).map(|d| v1_view(d, &gw)))
        .await)
}

/// `UpdateDomainName`: `replace` of `/regionalCertificateArn`, `/certificateArn`,
/// `/securityPolicy`, `/mutualTlsAuthentication/truststoreUri` and
/// `/mutualTlsAuthentication/truststoreVersion`.
async fn v1_update(
    State(s): State<AdminState>,
    Params(name): Params<String>,
    Body(b): Body<PatchBody>,
) -> Response {
    let (gw, dir) = (gateway_domain(&s), data_dir(&s));
    let mut input = DomainInput::default();
    let mut mtls = MutualTlsInput {
        truststore_uri: None,
        truststore_version: None,
    };
    let mut problems = Vec::new();
    for op in b.patch_operations {
        if op.op != "replace" {
            problems.push(format!(
                "Invalid patch operation {:?} on {}",
                op.op, op.path
            ));
            continue;
        }
        match op.path.as_str() {
            "/regionalCertificateArn" | "/certificateArn" => input.certificate_arn = op.value,
            "/securityPolicy" => input.security_policy = op.value,
            "/mutualTlsAuthentication/truststoreUri" => mtls.truststore_uri = op.value,
            "/mutualTlsAuthentication/truststoreVersion" => mtls.truststore_version = op.value,
            other => problems.push(format!("Invalid patch path {other}")),
        }
    }
    if !problems.is_empty() {
        return ok::<Value>(Err(ApiError::invalid(&problems)));
    }
    let result = s
        .write(move |c| {
            if mtls.truststore_uri.is_some() || mtls.truststore_version.is_some() {
                let current = c.domains.domain(&name)?.mutual_tls.clone();
                if mtls.truststore_uri.is_none() {
                    mtls.truststore_uri = current.map(|m| m.truststore_uri);
                }
                input.mutual_tls = Some(Some(mtls));
            }
            c.domain_ops().update_domain(&name, input, dir)
        })
        .await;
    ok(result.map(|d| v1_view(&d, &gw)))
}

async fn v1_delete(State(s): State<AdminState>, Params(name): Params<String>) -> Response {
    accepted(s.write(move |c| c.domain_ops().delete_domain(&name)).await)
}

async fn v1_create_mapping(
    State(s): State<AdminState>,
    Params(name): Params<String>,
    Body(b): Body<MappingBody>,
) -> Response {
    let key = match b.base_path.as_deref() {
        None | Some("(none)") | Some("") => String::new(),
        Some(p) => p.to_string(),
    };
    created(
        s.write(move |c| {
            c.domain_ops()
                .create_mapping(&name, b.rest_api_id, b.stage, key, false)
        })
        .await
        .map(|m| v1_mapping_view(&m)),
    )
}

async fn v1_mappings(
    State(s): State<AdminState>,
    Params(name): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let q = Listing::parse(q.as_deref())?;
        let d = c.domains.domain(&name)?;
        let of: std::collections::BTreeMap<String, &MappingRecord> = c
            .domains
            .mappings_of(&d.domain_name)
            .map(|m| (m.key.clone(), m))
            .collect();
        v1_page(&of, &q, |m| v1_mapping_view(m))
    })
    .await)
}

/// `UpdateBasePathMapping`: `replace` on `/basePath`, `/restapiId` and `/stage`, as AWS.
async fn v1_update_mapping(
    State(s): State<AdminState>,
    Params((name, base_path)): Params<(String, String)>,
    Body(b): Body<crate::patch::PatchInput>,
) -> Response {
    let mut body = MappingBody::default();
    let mut problems = Vec::new();
    let ops = match b.ops() {
        Ok(ops) => ops,
        Err(e) => return ok::<Value>(Err(e)),
    };
    for op in ops {
        let target = match op.path.as_str() {
            "/basePath" => &mut body.api_mapping_key,
            "/restapiId" => &mut body.api_id,
            "/stage" => &mut body.stage,
            _ => {
                problems.push(format!(
                    "Invalid patch path '{}' specified for op '{}'. Must be one of: [/basePath, \
                     /restapiId, /stage]",
                    op.path, op.op
                ));
                continue;
            }
        };
        if op.op != crate::patch::Op::Replace {
            problems.push(format!(
                "Invalid patch operation specified. Must be one of: [replace]: '{}' on {}",
                op.op, op.path
            ));
            continue;
        }
        match &op.value {
            Some(v) => *target = Some(v.clone()),
            None => problems.push(format!("Invalid null value for {}", op.path)),
        }
    }
    if !problems.is_empty() {
        return ok::<Value>(Err(ApiError::invalid(&problems)));
    }
    if let Some(k) = &mut body.api_mapping_key {
        if k == "(none)" {
            k.clear();
        }
    }
    ok(s.write(move |c| {
        let id = c.domains.mapping_by_base_path(&name, &base_path)?;
        c.domain_ops().update_mapping(&name, &id, body)
    })
    .await
    .map(|m| v1_mapping_view(&m)))
}

async fn v1_get_mapping(
    State(s): State<AdminState>,
    Params((name, base_path)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| {
        let id = c.domains.mapping_by_base_path(&name, &base_path)?;
        c.domains.mapping(&name, &id).map(v1_mapping_view)
    })
    .await)
}

async fn v1_delete_mapping(
    State(s): State<AdminState>,
    Params((name, base_path)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| {
            let id = c.domains.mapping_by_base_path(&name, &base_path)?;
            c.domain_ops().delete_mapping(&name, &id)
        })
        .await,
    )
}
