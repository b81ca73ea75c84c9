//! `loadbench --auth`: what authorization adds to the proxy path, measured in one run.
//!
//! One Portico (one worker, core 0) serves one HTTP API with three routes to the same upstream
//! (nginx on core 1, `/small`): `GET /plain` (open), `GET /jwt` (a JWT authorizer: RS256,
//! keys from a JWKS served here, a token minted here with the `openssl` CLI) and `GET /lambda`
//! (a Lambda `REQUEST` authorizer with a 300 s TTL, its Invoke API served here: after the
//! first request every decision comes from the worker's cache). Every route gets the same
//! request bytes (the token included), so the differences are the authorizers' work; the CPU
//! time of the gateway per request is reported beside the latencies. Each route is loaded with
//! `wrk` in alternating rounds; the report gives the median p50 of each and the ratio to the
//! plain route.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command};

use anyhow::{bail, Context, Result};

use super::{bench_rounds, Args, Target};

/// The JWKS and the Invoke API on 127.0.0.1:0, one thread, `Connection: close` answers.
fn serve(jwks: String) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            let mut first = String::new();
            let mut length = 0usize;
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if first.is_empty() {
                    first = line.clone();
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = if first.starts_with("GET") {
                jwks.clone()
            } else {
                r#"{"isAuthorized":true,"context":{"user":"bench"}}"#.to_string()
            };
            let _ = reader.get_mut().write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .as_bytes(),
            );
        }
    });
    Ok(addr)
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("openssl")?;
    if let Some(input) = stdin {
        child.stdin.take().context("stdin")?.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("openssl {args:?} failed");
    }
    Ok(out.stdout)
}

/// An RSA key, its JWKS and an RS256 token for issuer `bench` and audience `bench`.
fn token_and_jwks(work: &Path) -> Result<(String, String)> {
    let key = work.join("jwt.key");
    let key_s = key.to_str().context("utf-8 path")?;
    openssl(&["genrsa", "-out", key_s, "2048"], None)?;
    let modulus = String::from_utf8(openssl(&["rsa", "-in", key_s, "-noout", "-modulus"], None)?)?;
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<_, _>>()?;
    let jwks =
        serde_json::json!({"keys": [{"kty": "RSA", "kid": "b1", "alg": "RS256", "use": "sig",
        "n": b64url(&n), "e": "AQAB"}]})
        .to_string();
    let header = b64url(br#"{"alg":"RS256","typ":"JWT","kid":"b1"}"#);
    let claims = serde_json::json!({"iss": "bench", "aud": "bench", "sub": "u",
        "exp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600});
    let input = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
    let sig = openssl(&["dgst", "-sha256", "-sign", key_s], Some(input.as_bytes()))?;
    Ok((format!("{input}.{}", b64url(&sig)), jwks))
}

/// Runs the comparison; the Portico it starts is pushed on `children` (stopped by the caller).
pub(super) fn run(portico: &Path, work: &Path, a: &Args, children: &mut Vec<Child>) -> Result<()> {
    let (token, jwks) = token_and_jwks(work)?;
    let stub = serve(jwks)?;
    let endpoint = format!("http://{stub}");
    let (child, ready) = portico_tools::spawn_portico_env(
        portico,
        Some("0"),
        &work.join("portico-auth-data"),
        &["--workers", "1"],
        &[
            ("AWS_ENDPOINT_URL_LAMBDA", &endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
        ],
    )?;
    let pid = child.id();
    children.push(child);
    println!("# {}", ready.line);
    let mut http = portico_tools::Http::connect(ready.admin)?;
    let (api, target) = bench_rounds::http_api(&mut http)?;
    let base = format!("/v2/apis/{api}");
    let jwt = http.call_json("POST", &format!("{base}/authorizers"),
        &serde_json::json!({
        "name": "jwt", "authorizerType": "JWT", "identitySource": ["$request.header.Authorization"],
        "jwtConfiguration": {"issuer": "bench", "audience": ["bench"], "jwksUri": format!("{endpoint}/jwks")}}),
    )?;
    let lambda = http.call_json("POST", &format!("{base}/authorizers"),
        &serde_json::json!({
        "name": "lambda", "authorizerType": "REQUEST", "identitySource": ["$request.header.Authorization"],
        "authorizerUri": "arn:aws:lambda:us-east-1:000000000000:function:bench",
        "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": true,
        "authorizerResultTtlInSeconds": 300}),
    )?;
    for (key, kind, authorizer) in [
        ("GET /plain", "NONE", None),
        ("GET /jwt", "JWT", jwt["authorizerId"].as_str()),
        ("GET /lambda", "CUSTOM", lambda["authorizerId"].as_str()),
    ] {
        let mut route =
            serde_json::json!({"routeKey": key, "target": target, "authorizationType": kind});
        if let Some(id) = authorizer {
            route["authorizerId"] = id.into();
        }
        http.call_json("POST", &format!("{base}/routes"), &route)?;
    }
    http.call_json(
        "POST",
        &format!("{base}/stages"),
        &serde_json::json!({"stageName": "$default", "autoDeploy": true}),
    )?;
    let host = format!("{api}.execute-api.localhost");
    // The same request bytes on every route (the token too, which the plain route ignores and
    // the Lambda authorizer takes as its identity), so the difference is the authorization.
    let targets =
        [("plain", "/plain"), ("jwt", "/jwt"), ("lambda", "/lambda")].map(|(name, path)| Target {
            name,
            url: format!("http://{}{path}", ready.listen),
            host: Some(host.clone()),
            header: Some(format!("Authorization: Bearer {token}")),
            pid: Some(pid),
        });
    // Every route answers 200 before the load (the JWKS fetch and the first authorizer call
    // happen here, not in the measurement).
    bench_rounds::wait_ready(&targets)?;
    let all = bench_rounds::wrk_rounds(&targets, a, "route")?;
    bench_rounds::print_medians(&targets, &all, |_| 0);
    Ok(())
}
