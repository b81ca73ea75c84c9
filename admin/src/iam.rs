//! The IAM-like store on the admin listener: users, access keys, managed and inline policies,
//! spoken in IAM's Query protocol so `aws iam --endpoint-url` and boto3's `iam` client work.
//!
//! # Architecture
//! 1. [`handle`] answers `POST /` with a form body (`Action=CreateUser&Version=2010-05-08&...`)
//!    when the request's SigV4 credential scope names the service `iam` (or no signature says
//!    otherwise): IAM's XML answers, IAM's XML errors
//!    (`<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>...`).
//! 2. [`IamState`] (a field of the `Catalog`, so changes run one at a time and commit before
//!    they publish) keeps one store document per user (its access keys, attached policy ARNs
//!    and inline policies) and one per managed policy, under the scope [`IAM_SCOPE`].
//! 3. A change to a user compiles that user's policies and publishes `Snapshot::with_iam` with
//!    the user's access keys replaced ([`IamTable::with`]): nothing else is recompiled. The
//!    admin credentials are the account root (`arn:aws:iam::{account}:root`), allowed
//!    everything.
//!
//! Secrets are stored in the clear in the data directory: the data plane derives SigV4 signing
//! keys from them, as AWS does. The data directory is as sensitive as the keys themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portico_shared::iam::{AccessKey, IamTable, Policy, Principal};
use portico_shared::limits::IAM_ACCESS_KEYS_PER_USER_MAX;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::{iso8601, now_secs, random_string};
use crate::publish::{deletion, parse_doc, row, Publisher};
use crate::store::{Change, Kind, Row, IAM_SCOPE};
use crate::AdminState;

/// IAM's XML namespace.
const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The IAM store: every user and managed policy, and what was last published from them.
#[derive(Debug)]
pub(crate) struct IamState {
    users: BTreeMap<String, User>,
    policies: BTreeMap<String, ManagedPolicy>,
    /// Managed policies compiled, by ARN (shared by every principal they are attached to).
    compiled: BTreeMap<String, Arc<Policy>>,
    account_id: String,
    /// What the data plane reads (`Snapshot::iam`).
    pub(crate) published: Arc<IamTable>,
    /// The admin credentials `(access key id, secret)`, the account root on the data plane:
    /// not stored, so a refresh from the store puts them back.
    root: Option<(String, String)>,
}

/// A user as stored: the one document a user change rewrites.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    user_name: String,
    user_id: String,
    path: String,
    arn: String,
    create_date: u64,
    #[serde(default)]
    access_keys: Vec<StoredKey>,
    /// Attached managed policies, by ARN.
    #[serde(default)]
    attached: Vec<String>,
    /// Inline policies: name → document.
    #[serde(default)]
    inline: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    access_key_id: String,
    /// In the clear: SigV4 verification needs it (see the module docs).
    secret_access_key: String,
    /// `Active` or `Inactive`.
    status: String,
    create_date: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedPolicy {
    policy_name: String,
    policy_id: String,
    path: String,
    arn: String,
    document: String,
    #[serde(default)]
    description: Option<String>,
    create_date: u64,
}

/// An IAM error: status, code and message in IAM's XML shape.
#[derive(Debug)]
pub(crate) struct IamError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The form parameters of one call.
struct Params(Vec<(String, String)>);

// === handler ===

/// `POST /` on the admin listener: one IAM Query-protocol call.
pub(crate) async fn handle(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(service) = scope_service(&headers) {
        if service != "iam" {
            return IamError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!("Service '{service}' is not served at the admin listener's root path"),
            )
            .into_response();
        }
    }
    let params = Params::parse(&body);
    let Some(action) = params.get("Action").map(str::to_string) else {
        return IamError::new(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action".into(),
        )
        .into_response();
    };
    let writes = !matches!(
        action.as_str(),
        "GetUser"
            | "ListUsers"
            | "ListAccessKeys"
            | "GetPolicy"
            | "ListPolicies"
            | "ListAttachedUserPolicies"
            | "GetUserPolicy"
            | "ListUserPolicies"
    );
    let result = if writes {
        state
            .write(move |c| Ok(c.iam.call(&mut c.publisher, &action, &params)))
            .await
    } else {
        state.read(|c| Ok(c.iam.query(&action, &params))).await
    };
    match result {
        Ok(Ok(xml)) => xml_response(StatusCode::OK, xml),
        Ok(Err(e)) => e.into_response(),
        Err(e) => IamError::from(e).into_response(),
    }
}

/// The service of the request's SigV4 credential scope, if signed with the header form.
fn scope_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(3).map(str::to_string)
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut r = (status, xml).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    r
}

impl IamState {
    /// A change: runs it, commits the user's (or policy's) document, publishes the user's keys.
    fn call(
        &mut self,
        publisher: &mut Publisher,
        action: &str,
        p: &Params,
    ) -> Result<String, IamError> {
        let (xml, change) = self.change(action, p)?;
        if let Some((changes, user)) = change {
            publisher.commit(&changes).map_err(IamError::from)?;
            self.apply_commit(&changes);
            if let Some(user) = user {
                let table = Arc::new(self.republish(&user));
                self.published = Arc::clone(&table);
                publisher.publish(|current, generation| current.with_iam(generation, table));
            }
        }
        Ok(xml)
    }

    /// Makes the admin credentials the account root on the data plane (everything allowed).
    pub(crate) fn set_root(
        &mut self,
        publisher: &mut Publisher,
        access_key_id: &str,
        secret: &str,
    ) {
        self.root = Some((access_key_id.to_string(), secret.to_string()));
        let table = Arc::new(self.with_root(&self.published));
        self.published = Arc::clone(&table);
        publisher.publish(|current, generation| current.with_iam(generation, table));
    }

    /// Rebuilds IAM from `rows` (every document under [`IAM_SCOPE`], read after another node
    /// changed one), keeping the admin credentials as root, and publishes it.
    pub(crate) fn refresh(
        &mut self,
        publisher: &mut Publisher,
        rows: Vec<Row>,
    ) -> Result<(), ApiError> {
        let mut next = IamState::load(rows)?;
        next.root = self.root.take();
        next.published = Arc::new(next.with_root(&next.published));
        *self = next;
        let table = Arc::clone(&self.published);
        publisher.publish(|current, generation| current.with_iam(generation, table));
        Ok(())
    }
}

/// What a change commits, and the user whose keys to republish.
type Committed = Option<(Vec<Change>, Option<String>)>;

// === impl IamState ===

impl IamState {
    /// Loads the stored users and policies and compiles what the data plane reads.
    pub(crate) fn load(rows: Vec<Row>) -> Result<IamState, ApiError> {
        let account_id = portico_shared::iam::account_id();
        let mut s = IamState {
            users: BTreeMap::new(),
            policies: BTreeMap::new(),
            compiled: BTreeMap::new(),
            published: Arc::new(IamTable::new(&account_id, &portico_shared::iam::region())),
            account_id,
            root: None,
        };
        for r in &rows {
            match r.kind {
                Kind::IamUser => {
                    let u: User = parse_doc(r)?;
                    s.users.insert(u.user_name.clone(), u);
                }
                Kind::IamPolicy => {
                    let p: ManagedPolicy = parse_doc(r)?;
                    s.policies.insert(p.policy_name.clone(), p);
                }
                _ => {}
            }
        }
        for p in s.policies.values() {
            match Policy::parse(&p.document, false, "") {
                Ok(c) => {
                    s.compiled.insert(p.arn.clone(), Arc::new(c));
                }
                Err(e) => tracing::error!(policy = %p.arn, errors = %e.join("; "),
                    "stored IAM policy does not compile; it allows nothing"),
            }
        }
        let mut table = (*s.published).clone();
        let names: Vec<String> = s.users.keys().cloned().collect();
        for name in names {
            table = s.table_with_user(&table, &name);
        }
        s.published = Arc::new(table);
        Ok(s)
    }

    /// `table` with the admin credentials (if set) as the account root.
    fn with_root(&self, table: &IamTable) -> IamTable {
        let Some((access_key_id, secret)) = &self.root else {
            return table.clone();
        };
        let root = Arc::new(Principal {
            arn: format!("arn:aws:iam::{}:root", self.account_id).into(),
            user_id: self.account_id.as_str().into(),
            root: true,
            policies: Box::new([]),
        });
        table.with(vec![AccessKey::new(access_key_id, secret, true, root)], &[])
    }

    /// The published table with `user`'s keys replaced by their current state.
    fn republish(&self, user: &str) -> IamTable {
        self.table_with_user(&self.published, user)
    }

    fn table_with_user(&self, table: &IamTable, user: &str) -> IamTable {
        // Every key the table holds for this user name: user names are unique and hold no
        // `/`, so the ARN's last segment names the user whatever its path.
        let prefix = format!("arn:aws:iam::{}:user/", self.account_id);
        let gone = table
            .key_ids_where(|arn| arn.starts_with(&prefix) && arn.rsplit('/').next() == Some(user));
        let gone: Vec<&str> = gone.iter().map(|k| &**k).collect();
        let Some(u) = self.users.get(user) else {
            return table.with(Vec::new(), &gone);
        };
        let mut policies: Vec<Arc<Policy>> = u
            .attached
            .iter()
            .filter_map(|arn| self.compiled.get(arn).cloned())
            .collect();
        for doc in u.inline.values() {
            if let Ok(p) = Policy::parse(doc, false, "") {
                policies.push(Arc::new(p));
            }
        }
        let principal = Arc::new(Principal {
            arn: u.arn.as_str().into(),
            user_id: u.user_id.as_str().into(),
            root: false,
            policies: policies.into(),
        });
        let keys = u
            .access_keys
            .iter()
            .map(|k| {
                AccessKey::new(
                    &k.access_key_id,
                    &k.secret_access_key,
                    k.status == "Active",
                    Arc::clone(&principal),
                )
            })
            .collect();
        table.with(keys, &gone)
    }

    fn user(&self, p: &Params) -> Result<&User, IamError> {
        let name = p.required("UserName")?;
        self.users.get(name).ok_or_else(|| no_such_user(name))
    }

    fn policy_by_arn(&self, arn: &str) -> Result<&ManagedPolicy, IamError> {
        self.policies
            .values()
            .find(|p| p.arn == arn)
            .ok_or_else(|| {
                IamError::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchEntity",
                    format!("Policy {arn} does not exist or is not attachable."),
                )
            })
    }

    fn attachments(&self, arn: &str) -> usize {
        self.users
            .values()
            .filter(|u| u.attached.iter().any(|a| a == arn))
            .count()
    }

    /// Read-only actions.
    fn query(&self, action: &str, p: &Params) -> Result<String, IamError> {
        let body = match action {
            "GetUser" => format!("<User>{}</User>", user_xml(self.user(p)?)),
            "ListUsers" => {
                let prefix = p.get("PathPrefix").unwrap_or("/");
                let members: String = self
                    .users
                    .values()
                    .filter(|u| u.path.starts_with(prefix))
                    .map(|u| format!("<member>{}</member>", user_xml(u)))
                    .collect();
                format!("<IsTruncated>false</IsTruncated><Users>{members}</Users>")
            }
            "ListAccessKeys" => {
                let u = self.user(p)?;
                let members: String = u
                    .access_keys
                    .iter()
                    .map(|k| {
                        format!(
                            "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId>\
                             <Status>{}</Status><CreateDate>{}</CreateDate></member>",
                            esc(&u.user_name),
                            k.access_key_id,
                            k.status,
                            iso8601(k.create_date)
                        )
                    })
                    .collect();
                format!(
                    "<UserName>{}</UserName><AccessKeyMetadata>{members}</AccessKeyMetadata>\
                     <IsTruncated>false</IsTruncated>",
                    esc(&u.user_name)
                )
            }
            "GetPolicy" => {
                let pol = self.policy_by_arn(p.required("PolicyArn")?)?;
                format!("<Policy>{}</Policy>", self.policy_xml(pol))
            }
            "ListPolicies" => {
                let scope = p.get("Scope").unwrap_or("All");
                let only_attached = p.get("OnlyAttached") == Some("true");
                let prefix = p.get("PathPrefix").unwrap_or("/");
                let members: String = self
                    .policies
                    .values()
                    .filter(|_| scope != "AWS")
                    .filter(|pol| pol.path.starts_with(prefix))
                    .filter(|pol| !only_attached || self.attachments(&pol.arn) > 0)
                    .map(|pol| format!("<member>{}</member>", self.policy_xml(pol)))
                    .collect();
                format!("<IsTruncated>false</IsTruncated><Policies>{members}</Policies>")
            }
            "ListAttachedUserPolicies" => {
                let u = self.user(p)?;
                let members: String = u
                    .attached
                    .iter()
                    .map(|arn| {
                        let name = arn.rsplit('/').next().unwrap_or_default();
                        format!(
                            "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                            esc(name),
                            esc(arn)
                        )
                    })
                    .collect();
                format!("<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>")
            }
            "GetUserPolicy" => {
                let u = self.user(p)?;
                let name = p.required("PolicyName")?;
                let doc = u.inline.get(name).ok_or_else(|| {
                    IamError::new(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("The user policy with name {name} cannot be found."),
                    )
                })?;
                // IAM returns policy documents URL-encoded; the SDKs decode them.
                let mut encoded = String::new();
                portico_shared::sigv4::percent_encode(&mut encoded, doc.as_bytes(), false);
                format!(
                    "<UserName>{}</UserName><PolicyName>{}</PolicyName>\
                     <PolicyDocument>{encoded}</PolicyDocument>",
                    esc(&u.user_name),
                    esc(name)
                )
            }
            "ListUserPolicies" => {
                let u = self.user(p)?;
                let members: String = u
                    .inline
                    .keys()
                    .map(|n| format!("<member>{}</member>", esc(n)))
                    .collect();
                format!("<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>")
            }
            other => return Err(invalid_action(other)),
        };
        Ok(envelope(action, Some(&body)))
    }

    /// Changes: the XML answer and what to commit (`None`: nothing changed).
    fn change(&mut self, action: &str, p: &Params) -> Result<(String, Committed), IamError> {
        let now = now_secs();
        let mut user = match action {
            "CreateUser" => {
                let name = p.required("UserName")?;
                check_name(name, 64, "userName")?;
                if self.users.contains_key(name) {
                    return Err(IamError::new(
                        StatusCode::CONFLICT,
                        "EntityAlreadyExists",
                        format!("User with name {name} already exists."),
                    ));
                }
                let path = check_path(p.get("Path"))?;
                User {
                    user_name: name.to_string(),
                    user_id: format!("AIDA{}", random_string(UPPER_DIGITS, 17)?),
                    arn: format!("arn:aws:iam::{}:user{path}{name}", self.account_id),
                    path,
                    create_date: now,
                    access_keys: Vec::new(),
                    attached: Vec::new(),
                    inline: BTreeMap::new(),
                }
            }
            "CreatePolicy" => return self.create_policy(p, now),
            "DeletePolicy" => {
                let arn = p.required("PolicyArn")?;
                let pol = self.policy_by_arn(arn)?.clone();
                if self.attachments(arn) > 0 {
                    return Err(IamError::new(
                        StatusCode::CONFLICT,
                        "DeleteConflict",
                        "Cannot delete a policy attached to entities.".into(),
                    ));
                }
                let changes = vec![deletion(IAM_SCOPE, Kind::IamPolicy, &pol.policy_name)];
                return Ok((envelope(action, None), Some((changes, None))));
            }
            _ => self.user(p)?.clone(),
        };
        let mut result = None;
        match action {
            "CreateUser" => result = Some(format!("<User>{}</User>", user_xml(&user))),
            "DeleteUser" => {
                let conflict = if !user.access_keys.is_empty() {
                    Some("Cannot delete entity, must delete access keys first.")
                } else if !user.attached.is_empty() {
                    Some("Cannot delete entity, must detach all policies first.")
                } else if !user.inline.is_empty() {
                    Some("Cannot delete entity, must delete policies first.")
                } else {
                    None
                };
                if let Some(m) = conflict {
                    return Err(IamError::new(
                        StatusCode::CONFLICT,
                        "DeleteConflict",
                        m.into(),
                    ));
                }
                let changes = vec![deletion(IAM_SCOPE, Kind::IamUser, &user.user_name)];
                return Ok((
                    envelope(action, None),
                    Some((changes, Some(user.user_name))),
                ));
            }
            "CreateAccessKey" => {
                if user.access_keys.len() >= IAM_ACCESS_KEYS_PER_USER_MAX {
                    return Err(IamError::new(
                        StatusCode::CONFLICT,
                        "LimitExceeded",
                        format!(
                            "Cannot exceed quota for AccessKeysPerUser: {IAM_ACCESS_KEYS_PER_USER_MAX}"
                        ),
                    ));
                }
                let key = StoredKey {
                    access_key_id: format!("AKIA{}", random_string(UPPER_DIGITS, 16)?),
                    secret_access_key: random_string(SECRET_ALPHABET, 40)?,
                    status: "Active".into(),
                    create_date: now,
                };
                result = Some(format!(
                    "<AccessKey><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId>\
                     <Status>Active</Status><SecretAccessKey>{}</SecretAccessKey>\
                     <CreateDate>{}</CreateDate></AccessKey>",
                    esc(&user.user_name),
                    key.access_key_id,
                    esc(&key.secret_access_key),
                    iso8601(now)
                ));
                user.access_keys.push(key);
            }
            "DeleteAccessKey" | "UpdateAccessKey" => {
                let id = p.required("AccessKeyId")?;
                let i = user
                    .access_keys
                    .iter()
                    .position(|k| k.access_key_id == id)
                    .ok_or_else(|| {
                        IamError::new(
                            StatusCode::NOT_FOUND,
                            "NoSuchEntity",
                            format!("The Access Key with id {id} cannot be found."),
                        )
                    })?;
                if action == "DeleteAccessKey" {
                    user.access_keys.remove(i);
                } else {
                    let status = p.required("Status")?;
                    if !matches!(status, "Active" | "Inactive") {
                        return Err(validation(format!(
                            "1 validation error detected: Value '{status}' at 'status' failed to \
                             satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                        )));
                    }
                    user.access_keys[i].status = status.to_string();
                }
            }
            "AttachUserPolicy" => {
                let arn = p.required("PolicyArn")?;
                self.policy_by_arn(arn)?;
                if !user.attached.iter().any(|a| a == arn) {
                    user.attached.push(arn.to_string());
                }
            }
            "DetachUserPolicy" => {
                let arn = p.required("PolicyArn")?;
                let i = user.attached.iter().position(|a| a == arn).ok_or_else(|| {
                    IamError::new(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("Policy {arn} was not found."),
                    )
                })?;
                user.attached.remove(i);
            }
            "PutUserPolicy" => {
                let name = p.required("PolicyName")?;
                check_name(name, 128, "policyName")?;
                let doc = p.required("PolicyDocument")?;
                check_document(doc)?;
                user.inline.insert(name.to_string(), doc.to_string());
            }
            "DeleteUserPolicy" => {
                let name = p.required("PolicyName")?;
                if user.inline.remove(name).is_none() {
                    return Err(IamError::new(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        format!("The user policy with name {name} cannot be found."),
                    ));
                }
            }
            other => return Err(invalid_action(other)),
        }
        let name = user.user_name.clone();
        let changes = vec![Change::Put(row(IAM_SCOPE, Kind::IamUser, &name, &user))];
        Ok((
            envelope(action, result.as_deref()),
            Some((changes, Some(name))),
        ))
    }

    fn create_policy(&mut self, p: &Params, now: u64) -> Result<(String, Committed), IamError> {
        let name = p.required("PolicyName")?;
        check_name(name, 128, "policyName")?;
        let doc = p.required("PolicyDocument")?;
        check_document(doc)?;
        let path = check_path(p.get("Path"))?;
        if self.policies.contains_key(name) {
            return Err(IamError::new(
                StatusCode::CONFLICT,
                "EntityAlreadyExists",
                format!("A policy called {name} already exists. Duplicate names are not allowed."),
            ));
        }
        let pol = ManagedPolicy {
            policy_name: name.to_string(),
            policy_id: format!("ANPA{}", random_string(UPPER_DIGITS, 17)?),
            arn: format!("arn:aws:iam::{}:policy{path}{name}", self.account_id),
            path,
            document: doc.to_string(),
            description: p.get("Description").map(str::to_string),
            create_date: now,
        };
        let xml = envelope(
            "CreatePolicy",
            Some(&format!("<Policy>{}</Policy>", self.policy_xml(&pol))),
        );
        let changes = vec![Change::Put(row(IAM_SCOPE, Kind::IamPolicy, name, &pol))];
        Ok((xml, Some((changes, None))))
    }

    /// Mirrors committed changes in memory.
    fn apply_commit(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Put(r) if r.kind == Kind::IamUser => {
                    if let Ok(u) = serde_json::from_str::<User>(&r.doc) {
                        self.users.insert(r.id.clone(), u);
                    }
                }
                Change::Put(r) if r.kind == Kind::IamPolicy => {
                    if let Ok(p) = serde_json::from_str::<ManagedPolicy>(&r.doc) {
                        if let Ok(c) = Policy::parse(&p.document, false, "") {
                            self.compiled.insert(p.arn.clone(), Arc::new(c));
                        }
                        self.policies.insert(r.id.clone(), p);
                    }
                }
                Change::Delete {
                    kind: Kind::IamUser,
                    id,
                    ..
                } => {
                    self.users.remove(id);
                }
                Change::Delete {
                    kind: Kind::IamPolicy,
                    id,
                    ..
                } => {
                    if let Some(p) = self.policies.remove(id) {
                        self.compiled.remove(&p.arn);
                    }
                }
                _ => {}
            }
        }
    }

    fn policy_xml(&self, p: &ManagedPolicy) -> String {
        format!(
            "<PolicyName>{}</PolicyName><DefaultVersionId>v1</DefaultVersionId>\
             <PolicyId>{}</PolicyId><Path>{}</Path><Arn>{}</Arn>\
             <AttachmentCount>{}</AttachmentCount>\
             <PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount>\
             <IsAttachable>true</IsAttachable>{}<CreateDate>{}</CreateDate>\
             <UpdateDate>{}</UpdateDate>",
            esc(&p.policy_name),
            p.policy_id,
            esc(&p.path),
            esc(&p.arn),
            self.attachments(&p.arn),
            p.description
                .as_deref()
                .map(|d| format!("<Description>{}</Description>", esc(d)))
                .unwrap_or_default(),
            iso8601(p.create_date),
            iso8601(p.create_date)
        )
    }
}

fn user_xml(u: &User) -> String {
    format!(
        "<Path>{}</Path><UserName>{}</UserName><UserId>{}</UserId><Arn>{}</Arn>\
         <CreateDate>{}</CreateDate>",
        esc(&u.path),
        esc(&u.user_name),
        u.user_id,
        esc(&u.arn),
        iso8601(u.create_date)
    )
}

/// `<{Action}Response><{Action}Result>...</{Action}Result><ResponseMetadata>...`.
fn envelope(action: &str, result: Option<&str>) -> String {
    let result = result
        .map(|r| format!("<{action}Result>{r}</{action}Result>"))
        .unwrap_or_default();
    format!(
        "<{action}Response xmlns=\"{XMLNS}\">{result}<ResponseMetadata><RequestId>{}</RequestId>\
         </ResponseMetadata></{action}Response>",
        request_id()
    )
}

fn request_id() -> String {
    let s = crate::ids::generate(32);
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// XML text escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn check_name(name: &str, max: usize, field: &str) -> Result<(), IamError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have \
             length at most {max}"
        )))
    }
}

fn check_path(path: Option<&str>) -> Result<String, IamError> {
    let path = path.unwrap_or("/");
    if path.starts_with('/') && path.ends_with('/') && path.len() <= 512 {
        Ok(path.to_string())
    } else {
        Err(validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain \
             only alphanumeric characters and/or / characters: '{path}'"
        )))
    }
}

fn check_document(doc: &str) -> Result<(), IamError> {
    Policy::parse(doc, false, "").map(drop).map_err(|problems| {
        IamError::new(
            StatusCode::BAD_REQUEST,
            "MalformedPolicyDocument",
            problems.join("; "),
        )
    })
}

fn no_such_user(name: &str) -> IamError {
    IamError::new(
        StatusCode::NOT_FOUND,
        "NoSuchEntity",
        format!("The user with name {name} cannot be found."),
    )
}

fn validation(message: String) -> IamError {
    IamError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

fn invalid_action(action: &str) -> IamError {
    IamError::new(
        StatusCode::BAD_REQUEST,
        "InvalidAction",
        format!("Could not find operation {action} for version 2010-05-08"),
    )
}

// === impl Params ===

impl Params {
    /// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte.
    fn parse(body: &[u8]) -> Params {
        let text = String::from_utf8_lossy(body);
        let decode = |s: &str| {
            let spaced = s.replace('+', " ");
            String::from_utf8_lossy(&portico_shared::sigv4::percent_decode(&spaced)).into_owned()
        };
        Params(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, IamError> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            validation(format!(
                "1 validation error detected: Value null at '{}{}' failed to satisfy \
                 constraint: Member must not be null",
                name[..1].to_ascii_lowercase(),
                &name[1..]
            ))
        })
    }
}

// === impl IamError ===

impl IamError {
    fn new(status: StatusCode, code: &'static str, message: String) -> IamError {
        IamError {
            status,
            code,
            message,
        }
    }
}

impl From<ApiError> for IamError {
    fn from(e: ApiError) -> IamError {
        tracing::error!(error = ?e, "IAM call failed");
        IamError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceFailure",
            "The request processing has failed because of an unknown error.".into(),
        )
    }
}

impl IntoResponse for IamError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        xml_response(
            self.status,
            format!(
                "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code>\
                 <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                self.code,
                esc(&self.message),
                request_id()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_xml() {
        let p =
            Params::parse(b"Action=PutUserPolicy&PolicyDocument=%7B%22a%22%3A1%7D&UserName=a+b");
        assert_eq!(p.get("Action"), Some("PutUserPolicy"));
        assert_eq!(p.get("PolicyDocument"), Some("{\"a\":1}"));
        assert_eq!(p.get("UserName"), Some("a b"));
        assert!(p.required("Nope").is_err());
        assert_eq!(esc("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
        let x = envelope("GetUser", Some("<User/>"));
        assert!(x.starts_with("<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User/></GetUserResult>"), "{x}");
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
            ),
        );
        assert_eq!(scope_service(&h).as_deref(), Some("iam"));
    }
}
