//! Authorization of a WebSocket upgrade: who may open a connection, decided once, before the
//! `$connect` integration runs.
//!
//! # Architecture
//! 1. `ws::upgrade` calls [`authorize`] once the stage and its `$connect` route are known,
//!    with the connection's `Conn` allocated but not registered (its id is in a Lambda
//!    authorizer's event; no `@connections` call can reach it before the decision).
//! 2. `AWS_IAM` on `$connect`: the upgrade request's SigV4 signature (headers, or a presigned
//!    query string as AWS's WebSocket clients send it) is verified by `iam::verify` against the
//!    snapshot's `IamTable` (15-minute window, constant-time compare), then the caller's
//!    identity policies are evaluated for `execute-api:Invoke` on
//!    `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect`. The root (admin
//!    credentials) is allowed.
//! 3. A refusal ([`Refusal`]) answers the upgrade with its status (403), AWS's message and
//!    `x-amzn-ErrorType`; `$connect` is not invoked and no connection exists.
//! 4. A Lambda `REQUEST` authorizer (`CUSTOM`), after the IAM check: the identity values
//!    (`route.request.header.X`, `route.request.querystring.X`, `stageVariables.X`,
//!    `context.X`) are read by `lambda_auth::identity_key` (one missing: 401, no call), and
//!    `lambda_auth::grant` answers from the per-core decision cache or invokes the function with
//!    AWS's WebSocket `REQUEST` event (the CONNECT proxy event plus `type` and `methodArn`
//!    `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect`). Deny: 403; the
//!    function's `Unauthorized`: 401; a failure: 500. The allowed grant rides on the connection
//!    (`registry::Conn::authorizer`): every later event's `requestContext.authorizer` and
//!    `$context.authorizer.*` read it.
//!
//! Invariants: no lock, no wait on the admin side; only the immutable snapshot is read.

use std::collections::BTreeMap;
use std::rc::Rc;

use portico_shared::authorizer::{Grant, LambdaAuthorizer};
use portico_shared::iam::{Decision, Request, INVOKE};
use portico_shared::websocket::{WsRoute, CONNECT};
use portico_shared::Snapshot;

use super::event::{Event, EventType};
use super::registry::Conn;
use super::Core;
use crate::downstream::Downstream;
use crate::error::{AuthorizerError, GatewayError};
use crate::http1::parse::bytes;
use crate::http1::RequestHead;
use crate::stages::authorize::lambda::Handshake;

/// The `AWS_IAM` caller of a connection: `requestContext.identity`'s IAM members.
#[derive(Debug)]
pub struct IamCaller {
    pub access_key: Box<str>,
    pub account_id: Box<str>,
    /// The user id (`caller`, `user`).
    pub user: Box<str>,
    pub user_arn: Box<str>,
}

/// What an allowed upgrade carries into its connection.
#[derive(Debug, Default)]
pub struct ConnectAuth {
    pub iam: Option<Box<IamCaller>>,
    /// The Lambda authorizer's grant (principal and context).
    pub lambda: Option<Rc<Grant>>,
}

/// A refused upgrade: its status, `x-amzn-ErrorType` and message.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub error_type: &'static str,
    pub message: String,
}

/// What the upgrade is decided on: the API, stage and `$connect` route it targets, and the
/// connection it would open (its id is in the authorizer's event).
#[derive(Debug)]
pub struct Target<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub stage_variables: &'a BTreeMap<String, String>,
    pub route: &'a WsRoute,
    pub conn: &'a Conn,
}

/// Decides whether the upgrade `head` may open a connection through `t.route` (`$connect`).
/// Async, with the worker at hand: a Lambda `REQUEST` authorizer invokes its function here.
pub async fn authorize<S>(
    w: &Core<'_>,
    s: &Snapshot,
    t: &Target<'_>,
    d: &Downstream<S>,
    head: &RequestHead,
) -> Result<ConnectAuth, Refusal> {
    let mut auth = ConnectAuth::default();
    if t.route.aws_iam {
        let now_s = crate::stages::authorize::jwt::now_s();
        auth.iam = Some(Box::new(authorize_iam(
            s, t.api_id, t.stage, d, head, now_s,
        )?));
    }
    if let Some(a) = &t.route.authorizer {
        let mut key = w.bufs.take();
        let r = authorize_lambda(w, s, a, t, d, head, &mut key).await;
        auth.lambda = Some(r.map_err(|e| {
            let g = GatewayError::Authorizer(e);
            Refusal {
                status: g.status(),
                error_type: g.response_type().map_or("", |r| r.error_type()),
                message: match e {
                    AuthorizerError::Unauthorized => "Unauthorized",
                    AuthorizerError::Denied { .. } => "Forbidden",
                    AuthorizerError::Failed | AuthorizerError::Configuration => {
                        "Internal server error"
                    }
                }
                .into(),
            }
        })?);
    }
    Ok(auth)
}

async fn authorize_lambda<S>(
    w: &Core<'_>,
    s: &Snapshot,
    a: &LambdaAuthorizer,
    t: &Target<'_>,
    d: &Downstream<S>,
    head: &RequestHead,
    key: &mut Vec<u8>,
) -> Result<Rc<Grant>, AuthorizerError> {
    let h = Handshake {
        buf: &d.buf,
        headers: &d.headers,
        query: bytes(&d.buf, head.query),
        stage_variables: t.stage_variables,
    };
    crate::stages::authorize::lambda::identity_key(a, &h, key, |name, out| {
        out.extend_from_slice(match name {
            "apiId" => t.api_id.as_bytes(),
            "stage" => t.stage.as_bytes(),
            "routeKey" => CONNECT.as_bytes(),
            "eventType" => b"CONNECT",
            "connectionId" => t.conn.text_id().as_bytes(),
            "domainName" => t.conn.domain().as_bytes(),
            "identity.sourceIp" => t.conn.source_ip().as_bytes(),
            "identity.userAgent" => t.conn.user_agent().as_bytes(),
            _ => b"",
        })
    })?;
    let mut arn = String::with_capacity(96);
    s.iam
        .write_resource_arn(&mut arn, t.api_id, t.stage, CONNECT, "");
    // `write_resource_arn` ends a method with the path's `/`.
    if arn.ends_with('/') {
        arn.pop();
    }
    let mut call = w.take_call();
    let subject = crate::stages::authorize::lambda::Subject {
        key,
        arn: &arn,
        peer: d.peer.ip(),
        trace: w.ids.next().trace_header(crate::request::header(
            &d.buf,
            &d.headers,
            b"x-amzn-trace-id",
        )),
    };
    let r = crate::stages::authorize::lambda::grant(
        w.authorizers,
        &w.upstreams(),
        s,
        a,
        &mut call,
        subject,
        |_, out| {
            let ev = Event {
                kind: EventType::Connect,
                route_key: CONNECT,
                conn: t.conn,
                request_id: w.ids.next(),
                message_id: None,
                body: &[],
                binary: false,
                disconnect: None,
                handshake: Some((&d.buf, &d.headers, head.query)),
                stage_variables: t.stage_variables,
            };
            // AWS's WebSocket `REQUEST` event: the CONNECT event's members, `type`, `methodArn`.
            let mut event = ev.proxy_event(t.conn.domain(), crate::request::unix_ms());
            if let Some(o) = event.as_object_mut() {
                o.remove("isBase64Encoded");
                o.insert("type".into(), "REQUEST".into());
                o.insert("methodArn".into(), arn.as_str().into());
            }
            let _ = serde_json::to_writer(out, &event);
        },
    )
    .await;
    w.give_call(call);
    r
}

fn authorize_iam<S>(
    s: &Snapshot,
    api_id: &str,
    stage: &str,
    d: &Downstream<S>,
    head: &RequestHead,
    now_s: u64,
) -> Result<IamCaller, Refusal> {
    let mut message = String::new();
    let key = crate::stages::authorize::iam::verify(s, head, &d.buf, &d.headers, &[], now_s)
        .map_err(|e| {
            let denial = match crate::stages::authorize::iam::refuse(e, &mut message) {
                GatewayError::Iam(d) => d.error_type(),
                _ => "AccessDeniedException",
            };
            Refusal {
                status: 403,
                error_type: denial,
                message: std::mem::take(&mut message),
            }
        })?;
    let caller = IamCaller {
        access_key: key.id.clone(),
        account_id: s.iam.account_id.clone(),
        user: key.principal.user_id.clone(),
        user_arn: key.principal.arn.clone(),
    };
    if key.principal.root {
        return Ok(caller);
    }
    let mut resource = String::with_capacity(96);
    s.iam
        .write_resource_arn(&mut resource, api_id, stage, CONNECT, "");
    // `write_resource_arn` ends a method with the path's `/`.
    if resource.ends_with('/') {
        resource.pop();
    }
    let req = Request {
        action: INVOKE,
        resource: &resource,
        principal: Some(&key.principal.arn),
        source_ip: d.peer.ip(),
    };
    match key.decide(&req, &s.iam.account_id) {
        Decision::Allow => Ok(caller),
        decision @ (Decision::ExplicitDeny | Decision::Implicit) => {
            let mut message = format!(
                "User: {} is not authorized to perform: execute-api:Invoke on resource: {resource}",
                key.principal.arn
            );
            if decision == Decision::ExplicitDeny {
                message.push_str(" with an explicit deny");
            }
            Err(Refusal {
                status: 403,
                error_type: "AccessDeniedException",
                message,
            })
        }
    }
}
