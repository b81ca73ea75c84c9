//! The Lambda Invoke client: `POST /2015-03-31/functions/{name}/invocations`
//! (`X-Amz-Invocation-Type: RequestResponse`), SigV4-signed, over the worker's upstream pool.
//!
//! # Architecture
//! 1. The target (`portico_shared::lambda::LambdaTarget`) was compiled with the snapshot: the
//!    endpoint is resolved, the credentials read, the path escaped. Nothing here does DNS.
//! 2. [`invoke`] writes the request head (signed with `portico_shared::sigv4::sign`) and the
//!    payload into the call's request buffer and runs one exchange through
//!    `UpstreamCall::exchange` (keep-alive connections per core, never retried: an invocation is
//!    not idempotent), bounded by the integration timeout.
//! 3. The answer is sorted the way API Gateway sorts it: a payload, a function error
//!    (`X-Amz-Function-Error`, or `cargo lambda`'s bare HTTP 500), an Invoke API error, a
//!    timeout or an unreachable endpoint ([`LambdaError`]).
//!
//! Used by the Lambda proxy integration (`integration/lambda.rs`), Lambda authorizers and WebSocket routes.
//! Signing allocates a few small strings per call (the signature's), nothing else does.

use std::time::Duration;

use portico_shared::lambda::{LambdaTarget, Scheme};
use portico_shared::limits::LAMBDA_PAYLOAD_MAX_BYTES;
use portico_shared::sigv4::Credentials;

use crate::error::GatewayError;
use crate::http1::parse::bytes;
use crate::http1::write;
use crate::integration::Upstreams;
use crate::upstream::{UpstreamCall, UpstreamResponse};

/// Why an invocation produced no payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LambdaError {
    #[error("the function did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u32 },
    #[error("the Lambda endpoint failed: {0}")]
    Unreachable(&'static str),
    /// The Invoke API refused the call (throttled, not found, not allowed, ...).
    #[error("the Invoke API answered {status}")]
    Service { status: u16 },
    /// The function raised an error (or its answer was too large).
    #[error("the function failed")]
    Function,
}

// === impl LambdaError ===

impl From<LambdaError> for GatewayError {
    fn from(e: LambdaError) -> GatewayError {
        match e {
            LambdaError::Timeout { timeout_ms } => GatewayError::UpstreamTimeout { timeout_ms },
            LambdaError::Unreachable(why) => GatewayError::LambdaInvoke(why),
            LambdaError::Service { .. } => GatewayError::LambdaInvoke("Invoke API error"),
            LambdaError::Function => GatewayError::LambdaFunction,
        }
    }
}

/// Invokes `target` with `payload`; on success the function's answer is `call.body(&r)`.
/// `trace`: the request's `X-Amzn-Trace-Id` value, sent with the Invoke call (as the AWS SDKs
/// send it; empty: none).
pub async fn invoke(
    w: &Upstreams<'_>,
    call: &mut UpstreamCall,
    target: &LambdaTarget,
    payload: &[u8],
    trace: &[u8],
) -> Result<UpstreamResponse, LambdaError> {
    let r = send(w, call, target, payload, trace).await?;
    classify(call, r)
}

/// Sends the Invoke request and reads the answer, whatever its status (a function error's
/// body, `{"errorMessage": ...}`, stays readable in `call`).
pub async fn send(
    w: &Upstreams<'_>,
    call: &mut UpstreamCall,
    target: &LambdaTarget,
    payload: &[u8],
    trace: &[u8],
) -> Result<UpstreamResponse, LambdaError> {
    call.clear();
    // An assumed role's credentials: one atomic load; right after a deployment the request
    // waits for STS's first answer (within the timeout); none by then fails the call rather
    // than sending it unsigned.
    crate::integration::credentials_ready(&target.signer, target.timeout_ms).await;
    let credentials = target.signer.load().map_err(LambdaError::Unreachable)?;
    write_request(
        target,
        credentials.as_deref(),
        payload,
        trace,
        portico_shared::clock::system_unix_secs(),
        &mut call.req,
    );
    let endpoint = crate::upstream::Endpoint {
        addr: target.endpoint.addr,
        tls: (target.endpoint.scheme == Scheme::Https).then_some(&*target.endpoint.sni),
    };
    let now = std::time::Instant::now();
    let until = now + Duration::from_millis(u64::from(target.timeout_ms));
    let r = match call
        .exchange_until(w.pool, endpoint, false, false, (now, until))
        .await
    {
        None | Some(Err(GatewayError::UpstreamTimeout { .. })) => {
            return Err(LambdaError::Timeout {
                timeout_ms: target.timeout_ms,
            })
        }
        Some(Err(GatewayError::UpstreamProtocol(why) | GatewayError::UpstreamConnect(why))) => {
            return Err(LambdaError::Unreachable(why))
        }
        Some(Err(_)) => return Err(LambdaError::Unreachable("exchange failed")),
        Some(Ok(r)) => r,
    };
    Ok(r)
}

/// Sorts an Invoke answer: the function's payload, or why there is none.
pub fn classify(call: &UpstreamCall, r: UpstreamResponse) -> Result<UpstreamResponse, LambdaError> {
    let has = |name: &[u8]| {
        call.headers
            .iter()
            .any(|&(n, _)| bytes(&call.resp, n).eq_ignore_ascii_case(name))
    };
    match r.status {
        200 if has(b"x-amz-function-error") => Err(LambdaError::Function),
        200 if call.body(&r).len() > LAMBDA_PAYLOAD_MAX_BYTES => Err(LambdaError::Function),
        200 => Ok(r),
        // Lambda's own errors name their type; `cargo lambda watch` answers a function error
        // with a bare 500 carrying the error object.
        500 if !has(b"x-amzn-errortype") => Err(LambdaError::Function),
        status => Err(LambdaError::Service { status }),
    }
}

/// The signed Invoke request: head and payload.
fn write_request(
    target: &LambdaTarget,
    credentials: Option<&Credentials>,
    payload: &[u8],
    trace: &[u8],
    unix_s: u64,
    out: &mut Vec<u8>,
) {
    const INVOCATION_TYPE: &str = "RequestResponse";
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(target.invoke_path.as_bytes());
    if !target.invoke_query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(target.invoke_query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host = &*target.endpoint.host_header;
    write::header(out, b"host", host.as_bytes());
    write::header(out, b"content-type", b"application/json");
    write::header(out, b"x-amz-invocation-type", INVOCATION_TYPE.as_bytes());
    // X-Ray: not signed (the SDKs leave it out of the signature too).
    if !trace.is_empty() {
        write::header(out, b"x-amzn-trace-id", trace);
    }
    if let Some(creds) = credentials {
        let sig = portico_shared::sigv4::sign(
            creds,
            &target.region,
            "lambda",
            unix_s,
            "POST",
            &target.invoke_path,
            &target.invoke_query,
            &[
                ("host", host),
                ("content-type", "application/json"),
                ("x-amz-invocation-type", INVOCATION_TYPE),
            ],
            payload,
        );
        write::header(out, b"x-amz-date", sig.amz_date.as_bytes());
        write::header(out, b"x-amz-content-sha256", sig.content_sha256.as_bytes());
        if let Some(token) = &creds.session_token {
            write::header(out, b"x-amz-security-token", token.as_bytes());
        }
        write::header(out, b"authorization", sig.authorization.as_bytes());
    }
    write::header_u64(out, b"content-length", payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    use portico_shared::lambda::{compile_target, LambdaEnv};

    #[test]
    fn signed_request() {
        let env = LambdaEnv::from_vars(|n| match n {
            "AWS_ENDPOINT_URL_LAMBDA" => Some("http://127.0.0.1:9001".into()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            "AWS_SESSION_TOKEN" => Some("tok".into()),
            _ => None,
        });
        let t = compile_target(
            &env,
            "arn:aws:lambda:eu-west-1:123456789012:function:echo",
            false,
            None,
            1000,
        )
        .unwrap();
        let mut out = Vec::new();
        let portico_shared::lambda::Signer::Fixed(creds) = &t.signer else {
            panic!("fixed credentials")
        };
        write_request(
            &t,
            creds.as_deref(),
            b"{}",
            b"Root=1-5759e988-bd862e3fe1be46a994272793",
            1_440_938_160,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nhost: 127.0.0.1:9001\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("x-amz-date: 20150830T123600Z\r\n"), "{text}");
        assert!(text.contains("x-amz-security-token: tok\r\n"), "{text}");
        assert!(
            text.contains("x-amzn-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n"),
            "{text}"
        );
        assert!(text.contains("authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-invocation-type;x-amz-security-token, Signature="), "{text}");
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"), "{text}");
    }
}
