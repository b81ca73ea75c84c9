//! Authorization of a WebSocket upgrade: who may open a connection, decided once, before the
//! `$connect` integration runs.
//!
//! # Architecture
//! 1. `ws::upgrade` calls [`authorize`] once the stage and its `$connect` route are known;
//!    nothing is allocated for the connection before the decision.
//! 2. `AWS_IAM` on `$connect`: the upgrade request's SigV4 signature (headers, or a presigned
//!    query string as AWS's WebSocket clients send it) is verified by `iam::verify` against the
//!    snapshot's `IamTable` (15-minute window, constant-time compare), then the caller's
//!    identity policies are evaluated for `execute-api:Invoke` on
//!    `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect`. The root (admin
//!    credentials) is allowed.
//! 3. A refusal ([`Refusal`]) answers the upgrade with its status (403), AWS's message and
//!    `x-amzn-ErrorType`; `$connect` is not invoked and no connection exists.
//! 4. Lambda `REQUEST` authorizers plug in here, after the IAM check: their decision is a
//!    [`Refusal`] (401/403) or an allowed [`ConnectAuth`], whose fields ride on the connection
//!    (`registry::Conn`) so that every later event carries them.
//!
//! Invariants: no lock, no wait on the admin side; only the immutable snapshot is read.

use portico_shared::iam::{Decision, Request, INVOKE};
use portico_shared::websocket::{WsRoute, CONNECT};
use portico_shared::Snapshot;

use crate::conn::Downstream;
use crate::error::GatewayError;
use crate::http1::RequestHead;
use crate::worker::Worker;

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
}

/// A refused upgrade: its status, `x-amzn-ErrorType` and message.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub error_type: &'static str,
    pub message: String,
}

/// Decides whether the upgrade `head` may open a connection through `route` (`$connect`).
/// Async, with the worker at hand, because a Lambda `REQUEST` authorizer (`route` naming one)
/// will invoke its function through `lambda::invoke` here.
pub async fn authorize<S>(
    _w: &Worker,
    s: &Snapshot,
    api_id: &str,
    stage: &str,
    route: &WsRoute,
    d: &Downstream<S>,
    head: &RequestHead,
) -> Result<ConnectAuth, Refusal> {
    let mut auth = ConnectAuth::default();
    if route.aws_iam {
        let now_s = crate::auth::now_s();
        auth.iam = Some(Box::new(authorize_iam(s, api_id, stage, d, head, now_s)?));
    }
    // A Lambda REQUEST authorizer's decision goes here: a `Refusal` (401 Unauthorized, 403
    // Forbidden, 500 on a failed call) or its `context`, kept on `ConnectAuth` and then on the
    // connection for `requestContext.authorizer` of every later event.
    Ok(auth)
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
    let key = crate::iam::verify(s, head, &d.buf, &d.headers, &[], now_s).map_err(|e| {
        let denial = match crate::iam::refuse(e, &mut message) {
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
