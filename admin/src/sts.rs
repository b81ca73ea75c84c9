//! The STS task: assumes the roles named by Lambda integrations' `credentials`, on the admin
//! thread, so workers sign Invoke calls with the role's temporary credentials.
//!
//! # Architecture
//! 1. Every [`STS_TICK_MS`], [`assume_loop`] reads the published snapshot and walks each API's
//!    `role_slots` (collected at compile time, one per role ARN).
//! 2. A slot is due when it has no credentials, or they expire within `ROLE_RENEW_BEFORE_S`;
//!    a failed attempt is retried after `ROLE_RETRY_S`.
//! 3. `AssumeRole` (STS's Query protocol, `POST /`, SigV4 for `sts` with the environment's
//!    credentials) goes to `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else
//!    `https://sts.{region}.amazonaws.com` (refused until the TLS client lands); the answer's
//!    `Credentials` are published into the slot.
//!
//! Invariants: workers never call STS and never wait for it; they load a slot (one atomic
//! load). Calls run one at a time, each bounded by [`STS_CALL_TIMEOUT_MS`].

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use portico_shared::lambda::RoleSlot;
use portico_shared::limits::{
    ROLE_DURATION_S, ROLE_RENEW_BEFORE_S, ROLE_RETRY_S, STS_ANSWER_MAX_BYTES, STS_CALL_TIMEOUT_MS,
    STS_TICK_MS,
};
use portico_shared::sigv4::{self, Credentials};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::SnapshotCell;

/// Keeps the role slots of the published snapshot filled, forever.
pub(crate) async fn assume_loop(cell: SnapshotCell) {
    let mut attempted: HashMap<Box<str>, (Weak<RoleSlot>, Instant)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(STS_TICK_MS));
    loop {
        tick.tick().await;
        let slots: Vec<Arc<RoleSlot>> = cell
            .load()
            .apis()
            .flat_map(|a| a.role_slots.iter().cloned())
            .collect();
        attempted.retain(|_, (w, _)| w.strong_count() > 0);
        for slot in slots {
            let now = portico_shared::clock::system_unix_secs();
            let expires = slot.expires_s.load(std::sync::atomic::Ordering::Acquire);
            if expires > now + ROLE_RENEW_BEFORE_S {
                continue;
            }
            let recent = attempted.get(&slot.role_arn).is_some_and(|(w, at)| {
                w.as_ptr() == Arc::as_ptr(&slot) && at.elapsed() < Duration::from_secs(ROLE_RETRY_S)
            });
            if recent {
                continue;
            }
            attempted.insert(
                slot.role_arn.clone(),
                (Arc::downgrade(&slot), Instant::now()),
            );
            match assume(&slot.role_arn).await {
                Ok((creds, expires_s)) => {
                    slot.credentials.store(Some(Arc::new(creds)));
                    slot.expires_s
                        .store(expires_s, std::sync::atomic::Ordering::Release);
                    tracing::info!(role = %slot.role_arn, expires_s, "assumed role for Lambda integrations");
                }
                Err(e) => {
                    tracing::warn!(role = %slot.role_arn, error = %e, "AssumeRole failed; retrying");
                }
            }
        }
    }
}

/// `AssumeRole` for `role_arn`: the credentials and their expiry (seconds since the epoch).
async fn assume(role_arn: &str) -> Result<(Credentials, u64), String> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    let creds = Credentials::from_env()
        .ok_or("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are needed to assume roles")?;
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| var("PORTICO_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let url = var("AWS_ENDPOINT_URL_STS")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
    let authority = url
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains(['/', '@']))
        .ok_or_else(|| {
            format!("STS endpoint {url}: only http://host[:port] endpoints until TLS lands")
        })?;
    let mut body = String::from("Action=AssumeRole&Version=2011-06-15&RoleArn=");
    sigv4::percent_encode(&mut body, role_arn.as_bytes(), false);
    body.push_str("&RoleSessionName=portico&DurationSeconds=");
    body.push_str(&ROLE_DURATION_S.to_string());
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let sig = sigv4::sign(
        &creds,
        &region,
        "sts",
        portico_shared::clock::system_unix_secs(),
        "POST",
        "/",
        "",
        &[("host", authority), ("content-type", content_type)],
        body.as_bytes(),
    );
    let mut request = format!(
        "POST / HTTP/1.1\r\nhost: {authority}\r\ncontent-type: {content_type}\r\nx-amz-date: {}\r\nx-amz-content-sha256: {}\r\n",
        sig.amz_date, sig.content_sha256
    );
    if let Some(token) = &creds.session_token {
        request.push_str(&format!("x-amz-security-token: {token}\r\n"));
    }
    request.push_str(&format!(
        "authorization: {}\r\ncontent-length: {}\r\nconnection: close\r\nuser-agent: portico\r\n\r\n{body}",
        sig.authorization,
        body.len()
    ));
    let target = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let answer = tokio::time::timeout(Duration::from_millis(STS_CALL_TIMEOUT_MS), async {
        let mut stream = tokio::net::TcpStream::connect(&target)
            .await
            .map_err(|e| format!("connect to {target}: {e}"))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("AssumeRole: {e}"))?;
        let mut buf = Vec::new();
        (&mut stream)
            .take(STS_ANSWER_MAX_BYTES as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| format!("AssumeRole: {e}"))?;
        crate::jwks::parse_response(&buf).map_err(|e| format!("AssumeRole: {e}"))
    })
    .await
    .map_err(|_| format!("AssumeRole timed out after {STS_CALL_TIMEOUT_MS} ms"))??;
    parse_answer(&String::from_utf8_lossy(&answer))
}

/// The `Credentials` of an `AssumeRoleResponse`.
fn parse_answer(xml: &str) -> Result<(Credentials, u64), String> {
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&close)? + start;
        Some(xml[start..end].trim().to_string())
    };
    let missing = |name: &str| format!("AssumeRole answer has no {name}");
    let id = field("AccessKeyId").ok_or_else(|| missing("AccessKeyId"))?;
    let secret = field("SecretAccessKey").ok_or_else(|| missing("SecretAccessKey"))?;
    let token = field("SessionToken").ok_or_else(|| missing("SessionToken"))?;
    let expiration = field("Expiration").ok_or_else(|| missing("Expiration"))?;
    let expires_s = parse_iso8601(&expiration)
        .ok_or_else(|| format!("AssumeRole answer has an invalid Expiration '{expiration}'"))?;
    Ok((Credentials::new(id, secret, Some(token)), expires_s))
}

/// `2026-11-25T23:00:00Z` (fractional seconds allowed) to seconds since the epoch.
fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    sigv4::unix_seconds(
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2015-08-30T12:36:00.123Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let (c, expires) = parse_answer(xml).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("ASIAX", Some("t"))
        );
        assert_eq!(expires, 1_440_938_160);
        assert!(parse_answer("<Error><Code>AccessDenied</Code></Error>").is_err());
        assert_eq!(parse_iso8601("2015-08-30T12:36:00Z"), Some(1_440_938_160));
        assert_eq!(parse_iso8601("soon"), None);
    }
}
