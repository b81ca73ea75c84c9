//! A blocking admin API client for the profiling commands: one HTTP/1.1 `GET` per connection,
//! signed with SigV4 (service `apigateway`) when a key pair is configured, like the AWS CLI.
//!
//! Plain `http://` only (the admin listener serves no TLS). Every call has a deadline.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use portico_shared::limits::{CLI_CALL_TIMEOUT_MS, CLI_RESPONSE_MAX_BYTES};
use portico_shared::sigv4::{self, Credentials};

/// Connect, send and read deadline of one admin call.
const CALL_TIMEOUT: Duration = Duration::from_millis(CLI_CALL_TIMEOUT_MS);

/// The region the signature is scoped to when `AWS_REGION` is unset (the admin accepts any).
const DEFAULT_REGION: &str = "us-east-1";

/// Where the admin API is and how to sign for it.
#[derive(Debug)]
pub(crate) struct AdminClient {
    addr: SocketAddr,
    /// `host[:port]` as given: the `Host` header, which is signed.
    authority: String,
    /// A path prefix from the URL (`http://host/prefix`), usually empty.
    prefix: String,
    credentials: Option<Credentials>,
    region: String,
    /// How long a call may wait for its answer (`portico wait` waits longer than a read).
    read_timeout: Duration,
}

// === impl AdminClient ===

impl AdminClient {
    /// `url` is `http://host:port[/prefix]`. Credentials: `PORTICO_ADMIN_ACCESS_KEY_ID` and
    /// `PORTICO_ADMIN_SECRET_ACCESS_KEY`, else `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`;
    /// none: unsigned calls.
    pub(crate) fn from_env(url: &str) -> anyhow::Result<AdminClient> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let credentials = match (
            read("PORTICO_ADMIN_ACCESS_KEY_ID"),
            read("PORTICO_ADMIN_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => Some(Credentials::new(id, secret, None)),
            (None, None) => Credentials::from_env(),
            _ => bail!(
                "set both PORTICO_ADMIN_ACCESS_KEY_ID and PORTICO_ADMIN_SECRET_ACCESS_KEY, or neither"
            ),
        };
        let region = read("AWS_REGION")
            .or_else(|| read("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.into());
        AdminClient::new(url, credentials, region)
    }

    pub(crate) fn new(
        url: &str,
        credentials: Option<Credentials>,
        region: String,
    ) -> anyhow::Result<AdminClient> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            anyhow!("--admin must be an http:// URL (the admin listener serves plain HTTP), got {url:?}")
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("--admin {url:?} names no host");
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving the admin address {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("the admin address {authority} resolves to nothing"))?;
        Ok(AdminClient {
            addr,
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            credentials,
            region,
            read_timeout: CALL_TIMEOUT,
        })
    }

    /// `GET path?query` (the query already percent-encoded), the answer's body as JSON.
    /// The same client, waiting up to `timeout` for each answer.
    pub(crate) fn with_read_timeout(mut self, timeout: Duration) -> AdminClient {
        self.read_timeout = timeout;
        self
    }

    pub(crate) fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.get(path, query)?;
        let value: serde_json::Value = serde_json::from_slice(&body).with_context(|| {
            format!("the admin API answered {path} with something that is not JSON")
        })?;
        if !(200..300).contains(&status) {
            let message = value["message"].as_str().unwrap_or("no message");
            bail!("the admin API answered {path} with {status}: {message}");
        }
        Ok(value)
    }

    /// `GET`, the status and body (any status).
    pub(crate) fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut q = String::new();
        for (i, (k, v)) in query.iter().enumerate() {
            if i > 0 {
                q.push('&');
            }
            sigv4::percent_encode(&mut q, k.as_bytes(), false);
            q.push('=');
            sigv4::percent_encode(&mut q, v.as_bytes(), false);
        }
        let full_path = format!("{}{path}", self.prefix);
        let mut head = format!(
            "GET {full_path}{}{q} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: portico-cli/{}\r\n",
            if q.is_empty() { "" } else { "?" },
            self.authority,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(creds) = &self.credentials {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let sig = sigv4::sign(
                creds,
                &self.region,
                "apigateway",
                now,
                "GET",
                &full_path,
                &q,
                &[("host", &self.authority)],
                b"",
            );
            head.push_str(&format!(
                "X-Amz-Date: {}\r\nX-Amz-Content-Sha256: {}\r\nAuthorization: {}\r\n",
                sig.amz_date, sig.content_sha256, sig.authorization
            ));
            if let Some(token) = &creds.session_token {
                head.push_str(&format!("X-Amz-Security-Token: {token}\r\n"));
            }
        }
        head.push_str("\r\n");

        let mut stream = TcpStream::connect_timeout(&self.addr, CALL_TIMEOUT)
            .with_context(|| format!("connecting to the admin API at {}", self.addr))?;
        stream.set_read_timeout(Some(self.read_timeout))?;
        stream.set_write_timeout(Some(CALL_TIMEOUT))?;
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::with_capacity(16 << 10);
        (&mut stream)
            .take(CLI_RESPONSE_MAX_BYTES as u64 + 1)
            .read_to_end(&mut raw)
            .with_context(|| format!("reading the admin API's answer to {path}"))?;
        if raw.len() > CLI_RESPONSE_MAX_BYTES {
            bail!("the admin API's answer to {path} is larger than {CLI_RESPONSE_MAX_BYTES} bytes");
        }
        parse_response(&raw).with_context(|| format!("the admin API's answer to {path}"))
    }
}

/// Status and body of a whole HTTP/1.1 response (content-length, chunked or to EOF).
fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let head_len = match res.parse(raw).context("malformed HTTP response")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => bail!("the connection closed before the response head ended"),
    };
    let status = res.code.ok_or_else(|| anyhow!("no status"))?;
    let header = |name: &str| {
        res.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let body = &raw[head_len..];
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return Ok((status, dechunk(body)?));
    }
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().context("bad content-length")?;
        if body.len() < len {
            bail!("the body ended after {} of {len} bytes", body.len());
        }
        return Ok((status, body[..len].to_vec()));
    }
    Ok((status, body.to_vec()))
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lengths_chunks_and_eof() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(r).unwrap(), (200, b"{}".to_vec()));
        let r = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).unwrap(), (404, b"abcde".to_vec()));
        let r = b"HTTP/1.1 200 OK\r\n\r\nto the end";
        assert_eq!(parse_response(r).unwrap(), (200, b"to the end".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort").is_err());
        assert!(parse_response(b"HTTP/1.1 200").is_err());
    }

    #[test]
    fn urls() {
        let c = AdminClient::new("http://127.0.0.1:9090/", None, "us-east-1".into()).unwrap();
        assert_eq!(
            (c.authority.as_str(), c.prefix.as_str()),
            ("127.0.0.1:9090", "")
        );
        assert_eq!(c.addr.port(), 9090);
        let c = AdminClient::new("http://127.0.0.1/admin", None, "us-east-1".into()).unwrap();
        assert_eq!((c.addr.port(), c.prefix.as_str()), (80, "/admin"));
        assert!(AdminClient::new("https://127.0.0.1:9090", None, "us-east-1".into()).is_err());
        assert!(AdminClient::new("http://", None, "us-east-1".into()).is_err());
    }
}
