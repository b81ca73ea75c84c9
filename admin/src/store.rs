//! The admin side's source of truth: a durable store of APIs, routes, integrations, stages and
//! deployments, as JSON documents keyed by `(apiId, kind, id)`.
//!
//! # Architecture
//! 1. The [`Store`] trait is synchronous and object safe: the admin handlers call it from
//!    `spawn_blocking`, so a backend may block (SQLite does file I/O; a PostgreSQL backend would
//!    use a blocking client or its own runtime behind the same trait).
//! 2. A change is a batch of [`Change`]s applied in one transaction by [`Store::commit`]. When
//!    `commit` returns `Ok`, the batch is durable; the admin API answers 2xx only after that.
//! 3. Documents are the admin API's own wire JSON (see `records.rs`), so a PostgreSQL backend can
//!    keep them in a `jsonb` column with the same key; nothing here is SQLite-specific.
//!
//! 4. Usage counts (requests per day, quota used per period, per key and usage plan) live beside
//!    the documents as plain rows ([`UsageRow`]), written by the admin side's background flush
//!    ([`Store::put_usage`], one transaction per flush), never on a request path.
//!
//! Invariant: the store holds only what the admin API accepted; loading it never needs
//! validation beyond parsing (compile errors at load are logged and that API is skipped).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

mod postgres;
mod sqlite;

pub use postgres::{schema_version as postgres_schema_version, NodeRow, PostgresStore, CHANNEL};
pub use sqlite::{SqliteStore, SyncMode, DB_FILE};

/// What a stored document describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Api,
    Route,
    Integration,
    Stage,
    Deployment,
    /// An API key (`apigateway` v1), under [`USAGE_SCOPE`].
    ApiKey,
    /// A usage plan, under [`USAGE_SCOPE`].
    UsagePlan,
    /// A key's membership of a usage plan (`{planId}/{keyId}`), under [`USAGE_SCOPE`].
    UsagePlanKey,
    /// A REST API (`apigateway` v1) record; `id` is the REST API id.
    RestApi,
    /// An HTTP API authorizer; `id` is the authorizer id.
    Authorizer,
    /// A REST API resource with its methods, integrations and responses; `id` is the resource id.
    RestResource,
    /// A REST API deployment with its frozen resources and gateway responses.
    RestDeployment,
    /// A REST API stage; `id` is the stage name.
    RestStage,
    /// A customised REST API gateway response; `id` is the response type.
    RestGatewayResponse,
    /// A REST API model (JSON Schema); `id` is the model name.
    RestModel,
    /// A REST API request validator; `id` is the validator id.
    RestRequestValidator,
    /// A REST API authorizer; `id` is the authorizer id.
    RestAuthorizer,
    /// A WebSocket route response; `id` is `{routeId}/{routeResponseId}`.
    RouteResponse,
    /// A WebSocket integration response; `id` is `{integrationId}/{integrationResponseId}`.
    IntegrationResponse,
    /// An IAM user with its access keys, attached and inline policies, under [`IAM_SCOPE`].
    IamUser,
    /// An IAM managed policy, under [`IAM_SCOPE`]; `id` is the policy name.
    IamPolicy,
    /// A self-hosted Lambda function, under [`LAMBDA_SCOPE`]; `id` is the function name.
    Function,
    /// An imported certificate (ACM), under `$domains`; `id` is its ARN.
    Certificate,
    /// A custom domain name, under `$domains`; `id` is the name.
    DomainName,
    /// An API (base path) mapping, under `$domains`; `id` is `{domainName}/{mappingId}`.
    ApiMapping,
    /// A VPC link (either control plane), under [`VPC_LINK_SCOPE`].
    VpcLink,
    /// The account's settings (`GetAccount`), under `$account`; `id` is `account`.
    Account,
    /// A top-level resource's region (`region.rs`), under `$regions`; `id` is `{class}/{id}`.
    Region,
}

/// The `api_id` under which the IAM store's users and policies are stored (a `$` scope, so
/// [`Change::DeleteAll`] spares it).
pub const IAM_SCOPE: &str = "$iam";

/// The `api_id` under which API keys, usage plans and usage plan keys are stored. API ids are
/// lowercase letters and digits, so no API can have it; [`Change::DeleteAll`] spares every
/// scope that starts with `$`.
pub const USAGE_SCOPE: &str = "$usage";

/// The `api_id` under which self-hosted Lambda functions are stored (`lambda/`); like
/// [`USAGE_SCOPE`], no API can have it and [`Change::DeleteAll`] spares it.
pub const LAMBDA_SCOPE: &str = "$lambda";
/// The `api_id` under which VPC links are stored (account-level, like usage plans).
pub const VPC_LINK_SCOPE: &str = "$vpclinks";

/// What a [`UsageRow`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UsageKind {
    /// Requests admitted on one day (`day` is that day).
    Day,
    /// The quota counter of one period (`day` is its first day); negative after `UpdateUsage`
    /// granted more than the limit.
    Period,
}

/// One usage count of one key in one usage plan. Days are days since the Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub plan_id: String,
    pub key_id: String,
    pub kind: UsageKind,
    pub day: u64,
    pub used: i64,
}

/// One stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub api_id: String,
    pub kind: Kind,
    /// The document's id within its API and kind (the `apiId` itself for [`Kind::Api`]).
    pub id: String,
    /// JSON.
    pub doc: String,
}

/// One write in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Inserts or replaces a document.
    Put(Row),
    /// Removes one document (no error if absent).
    Delete {
        api_id: String,
        kind: Kind,
        id: String,
    },
    /// Removes an API and everything under it.
    DeleteApi { api_id: String },
    /// Removes every API (`PUT /portico/config` replaces the whole content); documents under a
    /// `$` scope ([`USAGE_SCOPE`]) stay.
    DeleteAll,
    /// Removes the usage counts of one key (or, with `None`, every key) in a usage plan.
    ForgetUsage {
        plan_id: String,
        key_id: Option<String>,
    },
    /// Keeps a self-hosted function's code (its zip) for the other nodes of a cluster, beside
    /// the function's record. A store on the node's own disk (SQLite) ignores it: the unpacked
    /// revision directory is the copy.
    PutCode {
        function: String,
        revision: String,
        zip: CodeZip,
    },
    /// Forgets a function's stored code revisions, all of them or all but `keep`.
    DeleteCode {
        function: String,
        keep: Option<String>,
    },
}

/// A function's zip, shared rather than copied; its `Debug` names the size, not the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeZip(pub std::sync::Arc<[u8]>);

impl fmt::Debug for CodeZip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeZip({} bytes)", self.0.len())
    }
}

/// A store failure: the disk, the database, a corrupt document. Answered 500 and logged.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// How an unavailable store's message starts (see [`StoreError::unavailable`]).
    const UNAVAILABLE: &'static str = "unavailable: ";

    /// The store could not be reached (a PostgreSQL server down or unreachable): nothing was
    /// applied, and the admin API answers 503 `ServiceUnavailableException`.
    pub fn unavailable(detail: &str) -> StoreError {
        StoreError(format!("{}{detail}", StoreError::UNAVAILABLE))
    }

    pub fn is_unavailable(&self) -> bool {
        self.0.starts_with(StoreError::UNAVAILABLE)
    }
}

/// A durable store of admin documents.
pub trait Store: Send + Sync + fmt::Debug {
    /// The local directory this store lives in, if it has one: self-hosted functions unpack
    /// their code under it.
    fn data_dir(&self) -> Option<&std::path::Path> {
        None
    }

    /// Every stored document, in `(api_id, kind, id)` order.
    fn load(&self) -> Result<Vec<Row>, StoreError>;

    /// Applies `changes` in order, atomically: all or none. Returns once they are durable.
    fn commit(&self, changes: &[Change]) -> Result<(), StoreError>;

    /// The zip of a function's code revision kept by [`Change::PutCode`], when this store keeps
    /// code for other nodes (PostgreSQL); `None` when it does not or has none.
    fn load_code(&self, _function: &str, _revision: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }

    /// Inserts or replaces usage counts, in one transaction (the background flush).
    fn put_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError>;

    /// The usage counts of plan `plan_id` whose day lies in `from_day..=to_day`.
    fn load_usage(
        &self,
        plan_id: &str,
        from_day: u64,
        to_day: u64,
    ) -> Result<Vec<UsageRow>, StoreError>;
}

/// A [`Store`] in memory, for tests: nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    docs: Mutex<BTreeMap<(String, Kind, String), String>>,
    /// By `(plan_id, key_id, kind, day)`.
    usage: Mutex<BTreeMap<(String, String, UsageKind, u64), i64>>,
}

// === impl MemoryStore ===

impl Store for MemoryStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(docs
            .iter()
            .map(|((api_id, kind, id), doc)| Row {
                api_id: api_id.clone(),
                kind: *kind,
                id: id.clone(),
                doc: doc.clone(),
            })
            .collect())
    }

    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match change {
                Change::Put(r) => {
                    docs.insert((r.api_id.clone(), r.kind, r.id.clone()), r.doc.clone());
                }
                Change::Delete { api_id, kind, id } => {
                    docs.remove(&(api_id.clone(), *kind, id.clone()));
                }
                Change::DeleteApi { api_id } => docs.retain(|(a, _, _), _| a != api_id),
                Change::DeleteAll => docs.retain(|(a, _, _), _| a.starts_with('$')),
                Change::ForgetUsage { plan_id, key_id } => {
                    let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
                    usage.retain(|(p, k, _, _), _| {
                        p != plan_id || key_id.as_ref().is_some_and(|id| id != k)
                    });
                }
                // Code lives in the node's own data directory.
                Change::PutCode { .. } | Change::DeleteCode { .. } => {}
            }
        }
        Ok(())
    }

    fn put_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        for r in rows {
            usage.insert((r.plan_id.clone(), r.key_id.clone(), r.kind, r.day), r.used);
        }
        Ok(())
    }

    fn load_usage(
        &self,
        plan_id: &str,
        from_day: u64,
        to_day: u64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        Ok(usage
            .iter()
            .filter(|((p, _, _, day), _)| p == plan_id && (from_day..=to_day).contains(day))
            .map(|((p, k, kind, day), used)| UsageRow {
                plan_id: p.clone(),
                key_id: k.clone(),
                kind: *kind,
                day: *day,
                used: *used,
            })
            .collect())
    }
}

// === impl Kind ===

impl Kind {
    pub const ALL: [Kind; 28] = [
        Kind::Api,
        Kind::Route,
        Kind::Integration,
        Kind::Stage,
        Kind::Deployment,
        Kind::ApiKey,
        Kind::UsagePlan,
        Kind::UsagePlanKey,
        Kind::RestApi,
        Kind::RestResource,
        Kind::RestDeployment,
        Kind::RestStage,
        Kind::RestGatewayResponse,
        Kind::RestModel,
        Kind::RestRequestValidator,
        Kind::RestAuthorizer,
        Kind::Authorizer,
        Kind::RouteResponse,
        Kind::IntegrationResponse,
        Kind::IamUser,
        Kind::IamPolicy,
        Kind::Function,
        Kind::Certificate,
        Kind::DomainName,
        Kind::ApiMapping,
        Kind::VpcLink,
        Kind::Account,
        Kind::Region,
    ];

    /// The stored name; never change one (it is on disk).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Route => "route",
            Kind::Integration => "integration",
            Kind::Stage => "stage",
            Kind::Deployment => "deployment",
            Kind::ApiKey => "apikey",
            Kind::UsagePlan => "usageplan",
            Kind::UsagePlanKey => "usageplankey",
            Kind::RestApi => "restapi",
            Kind::RestResource => "restresource",
            Kind::RestDeployment => "restdeployment",
            Kind::RestStage => "reststage",
            Kind::RestGatewayResponse => "restgatewayresponse",
            Kind::RestModel => "restmodel",
            Kind::RestRequestValidator => "restrequestvalidator",
            Kind::RestAuthorizer => "restauthorizer",
            Kind::Authorizer => "authorizer",
            Kind::RouteResponse => "routeresponse",
            Kind::IntegrationResponse => "integrationresponse",
            Kind::IamUser => "iamuser",
            Kind::IamPolicy => "iampolicy",
            Kind::Function => "function",
            Kind::Certificate => "certificate",
            Kind::DomainName => "domainname",
            Kind::ApiMapping => "apimapping",
            Kind::VpcLink => "vpclink",
            Kind::Account => "account",
            Kind::Region => "region",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}
