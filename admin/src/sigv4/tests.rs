use super::*;
use axum::http::StatusCode;
use portico_shared::limits::ADMIN_BODY_MAX_BYTES;
use portico_shared::sigv4::verify::{parse_http_date, parse_iso_basic};
use portico_shared::sigv4::{
    canonical_query, canonical_uri, format_iso_basic, hmac_sha256, push_trimmed,
};
use sha2::{Digest, Sha256};

use std::time::Duration;

use axum::routing::post;
use axum::Router;
use tower::ServiceExt;

include!("botocore_fixtures.rs");

/// The AWS SigV4 test suite's key pair, scope and clock (aws-c-auth, `aws-signing-test-suite/v4`).
const SUITE_AKID: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z.
const SUITE_NOW_UNIX_S: u64 = 1_440_938_160;
const SUITE_SCOPE: &str = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

/// (name, method, path and query, headers, body, SignedHeaders, Signature).
type HeaderCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Headers<'a>,
    &'a str,
    &'a str,
    &'a str,
);
/// (name, method, path and presigned query, headers, body).
type PresignedCase<'a> = (&'a str, &'a str, String, Headers<'a>, &'a str);
type Headers<'a> = Vec<(&'a str, &'a str)>;

fn at(unix_s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_s)
}

fn suite_creds() -> AdminCredentials {
    AdminCredentials::new(SUITE_AKID, SUITE_SECRET)
}

fn botocore_creds() -> AdminCredentials {
    AdminCredentials::new(BOTOCORE_ACCESS_KEY_ID, BOTOCORE_SECRET_ACCESS_KEY)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn check(
    method: &str,
    target: &str,
    h: &HeaderMap,
    body: &str,
    creds: &AdminCredentials,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let uri: Uri = target.parse().unwrap();
    verify(&method, &uri, h, body.as_bytes(), creds, now)
}

fn error_type(r: Result<(), SigV4Error>) -> &'static str {
    r.map_or_else(|e| e.error_type(), |()| "Ok")
}

/// The suite's signed requests in the `Authorization` header form, from `header-signed-request.txt`.
#[test]
fn aws_test_suite_header_form() {
    let auth = |signed: &str, sig: &str| {
        format!("{ALGORITHM} Credential={SUITE_SCOPE}, SignedHeaders={signed}, Signature={sig}")
    };
    let host = ("Host", "example.amazonaws.com");
    let date = ("X-Amz-Date", "20150830T123600Z");
    let form_hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
    #[rustfmt::skip]
    let cases: &[HeaderCase<'_>] = &[
        ("get-vanilla", "GET", "/", vec![host, date], "", "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", vec![host, date], "",
         "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("get-vanilla-query-unreserved", "GET",
         "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         vec![host, date], "", "host;x-amz-date",
         "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        ("get-vanilla-query-order-encoded", "GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
         vec![host, date], "", "host;x-amz-date",
         "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
        ("get-vanilla-empty-query-key", "GET", "/?Param1=value1", vec![host, date], "", "host;x-amz-date",
         "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
        ("get-header-value-trim", "GET", "/",
         vec![host, ("My-Header1", "value1"), ("My-Header2", "\"a   b   c\""), date], "",
         "host;my-header1;my-header2;x-amz-date",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        ("get-header-key-duplicate", "GET", "/",
         vec![host, ("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1"), date], "",
         "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        ("get-header-value-order", "GET", "/",
         vec![host, ("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"),
              ("My-Header1", "value2"), date], "",
         "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
        ("get-slashes-normalized", "GET", "//example//", vec![host, date], "", "host;x-amz-date",
         "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
        ("get-relative-relative-normalized", "GET", "/example1/example2/../..", vec![host, date], "",
         "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("post-vanilla", "POST", "/", vec![host, date], "", "host;x-amz-date",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("post-header-key-sort", "POST", "/", vec![host, ("My-Header1", "value1"), date], "",
         "host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        ("post-vanilla-empty-query-value", "POST", "/?Param1=value1", vec![host, date], "",
         "host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        ("post-x-www-form-urlencoded", "POST", "/",
         vec![("Content-Type", "application/x-www-form-urlencoded"), host, ("Content-Length", "13"), date,
              ("x-amz-content-sha256", form_hash)], "Param1=value1",
         "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
         "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"),
        ("get-vanilla-with-session-token", "GET", "/",
         vec![host, ("X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
              date], "", "host;x-amz-date;x-amz-security-token",
         "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"),
    ];
    let creds = suite_creds();
    let now = at(SUITE_NOW_UNIX_S);
    for (name, method, target, pairs, body, signed, sig) in cases {
        let mut h = headers(pairs);
        h.append(header::AUTHORIZATION, auth(signed, sig).parse().unwrap());
        assert_eq!(
            check(method, target, &h, body, &creds, now),
            Ok(()),
            "{name}"
        );

        // One flipped hex digit of the signature must fail.
        let mut bad = sig.to_string();
        bad.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        h.insert(header::AUTHORIZATION, auth(signed, &bad).parse().unwrap());
        assert_eq!(
            check(method, target, &h, body, &creds, now),
            Err(SigV4Error::SignatureMismatch),
            "{name}"
        );
    }
}

/// The suite's presigned URLs, from `query-signed-request.txt` (X-Amz-Expires=3600).
#[test]
fn aws_test_suite_presigned_form() {
    let creds = suite_creds();
    let q = |signed: &str, sig: &str| {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F\
             service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders={signed}\
             &X-Amz-Expires=3600&X-Amz-Signature={sig}"
        )
    };
    let host = ("Host", "example.amazonaws.com");
    #[rustfmt::skip]
    let cases: &[PresignedCase<'_>] = &[
        ("get-vanilla", "GET", format!("/?{}", q("host", "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d")),
         vec![host], ""),
        ("get-vanilla-query-order-key-case", "GET",
         format!("/?Param2=value2&Param1=value1&{}", q("host", "86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5")),
         vec![host], ""),
        ("get-header-value-trim", "GET",
         format!("/?{}", q("host%3Bmy-header1%3Bmy-header2", "e7bb0fd515e125e1aec2ecc4c0c17484fb06f6846b927c35e46005dd3df3acd4")),
         vec![host, ("My-Header1", "value1"), ("My-Header2", "\"a   b   c\"")], ""),
        ("get-slashes-normalized", "GET",
         format!("//example//?{}", q("host", "c1834e8fb0307243711f0f907f6ab7311ed300d87f13792d7ee4da89ab93e082")),
         vec![host], ""),
        ("get-vanilla-with-session-token", "GET",
         format!("/?{}", q("host", "7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c")
             .replace("&X-Amz-Signature", "&X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&X-Amz-Signature")),
         vec![host], ""),
        ("post-x-www-form-urlencoded", "POST",
         format!("/?{}", q("content-length%3Bcontent-type%3Bhost", "89a40deed0f26f9461242825a082d2222717248abc7ab41f552ad84a94ad46e9")),
         vec![("Content-Type", "application/x-www-form-urlencoded"), host, ("Content-Length", "13")], "Param1=value1"),
    ];
    for (name, method, target, pairs, body) in cases {
        let h = headers(pairs);
        let ok = |unix_s| check(method, target, &h, body, &creds, at(unix_s));
        assert_eq!(ok(SUITE_NOW_UNIX_S), Ok(()), "{name}");
        assert_eq!(
            ok(SUITE_NOW_UNIX_S + 3600),
            Ok(()),
            "{name}: valid until expiry"
        );
        assert_eq!(
            error_type(ok(SUITE_NOW_UNIX_S + 3601)),
            "InvalidSignatureException",
            "{name}: expired"
        );
        let tampered = target.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601");
        assert_eq!(
            check(method, &tampered, &h, body, &creds, at(SUITE_NOW_UNIX_S)),
            Err(SigV4Error::SignatureMismatch),
            "{name}: X-Amz-Expires is signed"
        );
    }
    let h = headers(&[host]);
    let expired = check(
        "GET",
        &cases[0].2,
        &h,
        "",
        &creds,
        at(SUITE_NOW_UNIX_S + 3601),
    )
    .unwrap_err();
    assert_eq!(
        expired.message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
         (20150830T133601Z - 3600 sec.)"
    );
}

/// Requests signed by botocore (the AWS CLI's signer), through real apigatewayv2 client calls.
#[test]
fn botocore_requests_verify() {
    let creds = botocore_creds();
    let now = at(BOTOCORE_NOW_UNIX_S);
    assert_eq!(BOTOCORE_FIXTURES.len(), 12);
    for (name, method, target, pairs, body) in BOTOCORE_FIXTURES {
        let h = headers(pairs);
        assert_eq!(
            check(method, target, &h, body, &creds, now),
            Ok(()),
            "{name}"
        );
        // The window is 15 minutes either way.
        for skew_s in [0, 14 * 60, 15 * 60] {
            assert_eq!(
                check(
                    method,
                    target,
                    &h,
                    body,
                    &creds,
                    at(BOTOCORE_NOW_UNIX_S + skew_s)
                ),
                Ok(())
            );
            assert_eq!(
                check(
                    method,
                    target,
                    &h,
                    body,
                    &creds,
                    at(BOTOCORE_NOW_UNIX_S - skew_s)
                ),
                Ok(())
            );
        }
    }
}

#[test]
fn botocore_requests_tampered_fail() {
    let creds = botocore_creds();
    let now = at(BOTOCORE_NOW_UNIX_S);
    for (name, method, target, pairs, body) in BOTOCORE_FIXTURES {
        let h = headers(pairs);
        let run = |m: &str, t: &str, h: &HeaderMap, b: &str, c: &AdminCredentials| {
            error_type(check(m, t, h, b, c, now))
        };
        let mismatch = "InvalidSignatureException";

        let wrong_secret = AdminCredentials::new(BOTOCORE_ACCESS_KEY_ID, "not-the-secret");
        assert_eq!(
            run(method, target, &h, body, &wrong_secret),
            mismatch,
            "{name}"
        );
        let other_key = AdminCredentials::new("AKIDSOMEONEELSE", BOTOCORE_SECRET_ACCESS_KEY);
        assert_eq!(
            run(method, target, &h, body, &other_key),
            "UnrecognizedClientException",
            "{name}"
        );

        let body_tampered = format!("{body} ");
        assert_eq!(
            run(method, target, &h, &body_tampered, &creds),
            mismatch,
            "{name}: body"
        );

        let path_tampered = format!("/x{target}");
        assert_eq!(
            run(method, &path_tampered, &h, body, &creds),
            mismatch,
            "{name}: path"
        );

        let query_tampered = if target.contains('?') {
            format!("{target}&extra=1")
        } else {
            format!("{target}?extra=1")
        };
        assert_eq!(
            run(method, &query_tampered, &h, body, &creds),
            mismatch,
            "{name}: query"
        );

        let method_tampered = if *method == "GET" { "HEAD" } else { "PUT" };
        assert_eq!(
            run(method_tampered, target, &h, body, &creds),
            mismatch,
            "{name}: method"
        );

        let mut host_tampered = h.clone();
        host_tampered.insert(header::HOST, HeaderValue::from_static("localhost:9091"));
        assert_eq!(
            run(method, target, &host_tampered, body, &creds),
            mismatch,
            "{name}: host"
        );

        // Unsigned headers may change freely.
        let mut unsigned_changed = h.clone();
        unsigned_changed.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        assert_eq!(
            run(method, target, &unsigned_changed, body, &creds),
            "Ok",
            "{name}"
        );

        let expired = check(
            method,
            target,
            &h,
            body,
            &creds,
            at(BOTOCORE_NOW_UNIX_S + 15 * 60 + 1),
        );
        assert_eq!(error_type(expired.clone()), mismatch, "{name}: expired");
        let future = check(
            method,
            target,
            &h,
            body,
            &creds,
            at(BOTOCORE_NOW_UNIX_S - 15 * 60 - 1),
        );
        assert!(
            matches!(future, Err(SigV4Error::SignatureNotYetCurrent { .. })),
            "{name}: {future:?}"
        );

        if h.contains_key(header::AUTHORIZATION) {
            let mut bare = h.clone();
            bare.remove(header::AUTHORIZATION);
            assert_eq!(
                check(method, target, &bare, body, &creds, now),
                Err(SigV4Error::MissingAuthenticationToken),
                "{name}"
            );
            let expired = expired.unwrap_err();
            assert!(
                matches!(expired, SigV4Error::SignatureExpired { .. }),
                "{name}: {expired:?}"
            );
        }
    }
}

#[test]
fn signed_header_tampering_fails() {
    let creds = botocore_creds();
    let now = at(BOTOCORE_NOW_UNIX_S);
    let (_, method, target, pairs, body) = BOTOCORE_FIXTURES
        .iter()
        .find(|f| f.0 == "create_api_json_body")
        .unwrap();
    let mut h = headers(pairs);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    assert_eq!(
        check(method, target, &h, body, &creds, now),
        Err(SigV4Error::SignatureMismatch)
    );
    // Whitespace is canonicalized away: still the same signed value.
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("  application/json "),
    );
    assert_eq!(check(method, target, &h, body, &creds, now), Ok(()));
    // A second value for a signed header changes what was signed.
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    assert_eq!(
        check(method, target, &h, body, &creds, now),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn error_shapes() {
    let expired = SigV4Error::SignatureExpired {
        signed: "20261125T120000Z".into(),
        earliest: "20261125T121601Z".into(),
        now: "20261125T123101Z".into(),
        window: "15 min.".into(),
    };
    let cases = [
        (
            SigV4Error::MissingAuthenticationToken,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (
            SigV4Error::UnrecognizedClient,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            SigV4Error::SignatureMismatch,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check \
             your AWS Secret Access Key and signing method. Consult the service documentation for \
             details.",
        ),
        (
            expired,
            "InvalidSignatureException",
            "Signature expired: 20261125T120000Z is now earlier than 20261125T121601Z \
             (20261125T123101Z - 15 min.)",
        ),
    ];
    for (e, kind, message) in cases {
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.error_type(), kind);
        assert_eq!(e.message(), message);
    }
    assert_eq!(
        SigV4Error::IncompleteSignature("x".into()).error_type(),
        "IncompleteSignatureException"
    );
    assert_eq!(
        SigV4Error::PayloadTooLarge.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[test]
fn malformed_authorization_is_incomplete() {
    let creds = botocore_creds();
    let now = at(BOTOCORE_NOW_UNIX_S);
    let sig = "0".repeat(64);
    let scope = "AKIDPORTICOEXAMPLE/20261125/us-east-1/apigateway/aws4_request";
    #[rustfmt::skip]
    let cases: Vec<(String, &str)> = vec![
        ("Bearer abc".into(), "only 'AWS4-HMAC-SHA256'"),
        ("AWS4-HMAC-SHA512 Credential=x".into(), "only 'AWS4-HMAC-SHA256'"),
        (ALGORITHM.into(), "requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders'"),
        (format!("{ALGORITHM} Credential={scope}, SignedHeaders=host;x-amz-date"), "requires 'Signature' parameter."),
        (format!("{ALGORITHM} Credential={scope} SignedHeaders=host, Signature={sig}"), "requires 'SignedHeaders'"),
        (format!("{ALGORITHM} Credential={scope}, SignedHeaders, Signature={sig}"), "missing equal-sign"),
        (format!("{ALGORITHM} Credential=AKIDPORTICOEXAMPLE/20261125/us-east-1/aws4_request, SignedHeaders=host, Signature={sig}"), "exactly 5 slash-delimited"),
        (format!("{ALGORITHM} Credential=AKIDPORTICOEXAMPLE/20261125/us-east-1/apigateway/aws5_request, SignedHeaders=host, Signature={sig}"), "valid terminator"),
        (format!("{ALGORITHM} Credential=AKIDPORTICOEXAMPLE/2026-11-25/us-east-1/apigateway/aws4_request, SignedHeaders=host, Signature={sig}"), "valid date"),
        (format!("{ALGORITHM} Credential={scope}, SignedHeaders=x-amz-date, Signature={sig}"), "'Host' or ':authority' must be a 'SignedHeader'"),
        (format!("{ALGORITHM} Credential={scope}, SignedHeaders=host;;x-amz-date, Signature={sig}"), "';'-separated"),
        (format!("{ALGORITHM} Credential={scope}, Credential={scope}, SignedHeaders=host, Signature={sig}"), "more than once"),
    ];
    for (authorization, expect) in cases {
        let h = headers(&[
            ("host", "localhost:9090"),
            ("x-amz-date", "20261125T120000Z"),
            ("authorization", &authorization),
        ]);
        let e = check("GET", "/v2/apis", &h, "", &creds, now).unwrap_err();
        assert_eq!(
            e.error_type(),
            "IncompleteSignatureException",
            "{authorization}: {e:?}"
        );
        assert!(
            e.message().contains(expect),
            "{authorization}: {}",
            e.message()
        );
    }

    // No date at all, and a date that is not ISO 8601 basic.
    let authorization =
        format!("{ALGORITHM} Credential={scope}, SignedHeaders=host, Signature={sig}");
    let h = headers(&[
        ("host", "localhost:9090"),
        ("authorization", &authorization),
    ]);
    let e = check("GET", "/", &h, "", &creds, now).unwrap_err();
    assert!(
        e.message()
            .contains("either a 'X-Amz-Date' or a 'Date' header"),
        "{e:?}"
    );
    for bad in [
        "2026-11-25T12:00:00Z",
        "20261325T120000Z",
        "20261125T120000",
        "",
    ] {
        let h = headers(&[
            ("host", "h"),
            ("x-amz-date", bad),
            ("authorization", &authorization),
        ]);
        let e = check("GET", "/", &h, "", &creds, now).unwrap_err();
        assert!(
            e.message().contains("ISO-8601 'basic format'"),
            "{bad}: {e:?}"
        );
    }

    // Two Authorization headers; header and query both.
    let mut h = headers(&[
        ("host", "h"),
        ("x-amz-date", "20261125T120000Z"),
        ("authorization", &authorization),
    ]);
    h.append(header::AUTHORIZATION, authorization.parse().unwrap());
    assert_eq!(
        error_type(check("GET", "/", &h, "", &creds, now)),
        "IncompleteSignatureException"
    );
    let h = headers(&[
        ("host", "h"),
        ("x-amz-date", "20261125T120000Z"),
        ("authorization", &authorization),
    ]);
    let e = check("GET", "/?X-Amz-Signature=00", &h, "", &creds, now).unwrap_err();
    assert!(e.message().contains("Only one auth mechanism"), "{e:?}");

    // Presigned with a parameter missing, or an out-of-range expiry.
    let h = headers(&[("host", "h")]);
    let e = check(
        "GET",
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        &h,
        "",
        &creds,
        now,
    )
    .unwrap_err();
    assert!(e.message().contains("must include"), "{e:?}");
    let (_, _, presigned, pairs, _) = BOTOCORE_FIXTURES
        .iter()
        .find(|f| f.0 == "presigned_get")
        .unwrap();
    let h = headers(pairs);
    for expires in ["0", "604801", "-1", "soon"] {
        let t = presigned.replace("X-Amz-Expires=900", &format!("X-Amz-Expires={expires}"));
        let e = check("GET", &t, &h, "", &creds, now).unwrap_err();
        assert!(e.message().contains("X-Amz-Expires"), "{expires}: {e:?}");
    }
}

#[test]
fn scope_date_must_match_signing_date() {
    // Signed with a scope of the day before, but a timestamp of today: AWS's own wording.
    let creds = suite_creds();
    let authorization = format!(
        "{ALGORITHM} Credential=AKIDEXAMPLE/20150829/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={}",
        "0".repeat(64)
    );
    let h = headers(&[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("authorization", &authorization),
    ]);
    let e = check("GET", "/", &h, "", &creds, at(SUITE_NOW_UNIX_S)).unwrap_err();
    assert_eq!(e.error_type(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20150829' != '20150830', from '20150830T123600Z'."
    );
}

#[test]
fn payload_hash_header_must_describe_the_body() {
    // post-x-www-form-urlencoded again, with a body the declared hash does not describe: the
    // signature is fine, but the body is not what was signed.
    let creds = suite_creds();
    let form_hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
    let h = headers(&[
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Host", "example.amazonaws.com"),
        ("Content-Length", "13"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("x-amz-content-sha256", form_hash),
        (
            "Authorization",
            &format!(
            "{ALGORITHM} Credential={SUITE_SCOPE}, SignedHeaders=content-length;content-type;host;\
             x-amz-content-sha256;x-amz-date, \
             Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        ),
        ),
    ]);
    let now = at(SUITE_NOW_UNIX_S);
    assert_eq!(check("POST", "/", &h, "Param1=value1", &creds, now), Ok(()));
    let e = check("POST", "/", &h, "Param1=value2", &creds, now).unwrap_err();
    assert!(e.message().contains("x-amz-content-sha256"), "{e:?}");

    // UNSIGNED-PAYLOAD leaves a body unsigned: refused when there is one.
    let mut h = h.clone();
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    let e = check("POST", "/", &h, "Param1=value1", &creds, now).unwrap_err();
    assert!(e.message().contains("x-amz-content-sha256"), "{e:?}");
}

#[test]
fn canonical_forms() {
    let uri = |p: &str| {
        let mut s = String::new();
        canonical_uri(&mut s, p);
        s
    };
    assert_eq!(uri(""), "/");
    assert_eq!(uri("/"), "/");
    assert_eq!(uri("//a//b/./c/../"), "/a/b/");
    assert_eq!(uri("/a/.."), "/");
    assert_eq!(uri("/../.."), "/");
    assert_eq!(uri("/a%2Fb c"), "/a%252Fb%20c");
    assert_eq!(uri("/~x-y_z.w"), "/~x-y_z.w");
    assert_eq!(uri("/$default:x"), "/%24default%3Ax");

    let query = |q: &str, presigned: bool| {
        let mut s = String::new();
        canonical_query(&mut s, q, presigned);
        s
    };
    assert_eq!(query("", false), "");
    assert_eq!(query("b=2&a=1&a=0&c", false), "a=0&a=1&b=2&c=");
    assert_eq!(query("k=a+b&k2=%7e&k3=%2f", false), "k=a%2Bb&k2=~&k3=%2F");
    assert_eq!(
        query("B=1&a=1", false),
        "B=1&a=1",
        "uppercase sorts first (byte order)"
    );
    assert_eq!(query("a=%zz&&b=%", false), "a=%25zz&b=%25");
    assert_eq!(query("X-Amz-Signature=ab&a=1", true), "a=1");
    assert_eq!(
        query("X-Amz-Signature=ab&a=1", false),
        "X-Amz-Signature=ab&a=1"
    );

    let mut s = String::new();
    push_trimmed(&mut s, b"  a \t  b   c ");
    assert_eq!(s, "a b c");
}

#[test]
fn dates() {
    assert_eq!(format_iso_basic(SUITE_NOW_UNIX_S), "20150830T123600Z");
    assert_eq!(format_iso_basic(BOTOCORE_NOW_UNIX_S), "20261125T120000Z");
    assert_eq!(format_iso_basic(0), "19700101T000000Z");
    assert_eq!(format_iso_basic(951_782_400), "20000229T000000Z");
    assert_eq!(
        parse_iso_basic("20150830T123600Z").unwrap().unix_s,
        SUITE_NOW_UNIX_S
    );
    assert_eq!(
        parse_iso_basic("20000229T000000Z").unwrap().unix_s,
        951_782_400
    );
    // Round trip over a few centuries, one odd second at a time.
    for unix_s in (0..=10_000_000_000u64).step_by(86_400 * 37 + 3_601) {
        let iso = format_iso_basic(unix_s);
        assert_eq!(parse_iso_basic(&iso).unwrap().unix_s, unix_s, "{iso}");
    }
    for (http, iso) in [
        ("Wed, 25 Nov 2026 12:00:00 -0000", "20261125T120000Z"),
        ("Wed, 25 Nov 2026 12:00:00 GMT", "20261125T120000Z"),
        ("Wed, 25 Nov 2026 13:30:00 +0130", "20261125T120000Z"),
        ("25 Nov 2026 07:00:00 -0500", "20261125T120000Z"),
    ] {
        assert_eq!(parse_http_date(http).unwrap().iso, iso, "{http}");
    }
    for bad in [
        "Wed, 25 Foo 2026 12:00:00 GMT",
        "Wed, 25 Nov 2026 12:00 GMT",
        "yesterday",
    ] {
        assert!(parse_http_date(bad).is_none(), "{bad}");
    }
}

#[test]
fn credentials_config() {
    let s = |v: &str| Some(v.to_string());
    assert!(AdminCredentials::from_values(None, None).unwrap().is_none());
    let c = AdminCredentials::from_values(s("AKID"), s("secret"))
        .unwrap()
        .unwrap();
    assert_eq!(c.access_key_id(), "AKID");
    assert!(AdminCredentials::from_values(s("AKID"), None)
        .unwrap_err()
        .contains("set both"));
    assert!(AdminCredentials::from_values(None, s("x"))
        .unwrap_err()
        .contains("set both"));
    assert!(AdminCredentials::from_values(s("A/B"), s("x")).is_err());
    let debug = format!("{c:?}");
    assert!(
        debug.contains("AKID") && !debug.contains("secret\""),
        "{debug}"
    );
    assert!(!format!("{:?}", botocore_creds()).contains(BOTOCORE_SECRET_ACCESS_KEY));
}

#[test]
fn bind_rules() {
    let creds = botocore_creds();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    for ok in [
        "127.0.0.1:9090",
        "127.8.9.10:1",
        "[::1]:9090",
        "[::ffff:127.0.0.1]:9090",
    ] {
        assert_eq!(check_bind(addr(ok), None), Ok(()), "{ok}");
    }
    for refused in [
        "0.0.0.0:9090",
        "10.0.0.1:9090",
        "[::]:9090",
        "[2001:db8::1]:80",
    ] {
        let e = check_bind(addr(refused), None).unwrap_err();
        assert!(e.contains(ENV_ACCESS_KEY_ID), "{e}");
        assert_eq!(check_bind(addr(refused), Some(&creds)), Ok(()), "{refused}");
    }
}

// === middleware ===

/// Signs a request as a client would, at `now`: the test side of [`verify`]. Its canonical
/// request code is the verifier's own, which the test-suite and botocore vectors above pin.
fn sign(
    method: &Method,
    uri: &Uri,
    h: &mut HeaderMap,
    body: &[u8],
    creds: &AdminCredentials,
    now: SystemTime,
) {
    let iso = format_iso_basic(now.duration_since(UNIX_EPOCH).unwrap().as_secs());
    h.insert("x-amz-date", iso.parse().unwrap());
    let mut names: Vec<String> = h.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    let claim = Claim {
        access_key_id: creds.access_key_id.clone(),
        scope_date: iso[..8].to_string(),
        region: "us-east-1".into(),
        service: "apigateway".into(),
        signed_headers: names.join(";"),
        signature: String::new(),
        timestamp: parse_iso_basic(&iso).unwrap(),
        expires_s: None,
    };
    let body_hash = hex::encode(Sha256::digest(body));
    let canonical = claim.canonical_request(&parts(method, uri), h, &body_hash);
    let sts = format!(
        "{ALGORITHM}\n{iso}\n{}/us-east-1/apigateway/aws4_request\n{}",
        &iso[..8],
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = creds.signing_key(&iso[..8], "us-east-1", "apigateway");
    let signature = hex::encode(hmac_sha256(&key, sts.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}/us-east-1/apigateway/aws4_request, SignedHeaders={}, \
         Signature={signature}",
        creds.access_key_id,
        &iso[..8],
        claim.signed_headers
    );
    h.insert(header::AUTHORIZATION, authorization.parse().unwrap());
}

fn echo_app(creds: Option<Arc<AdminCredentials>>) -> Router {
    Router::new()
        .route("/v2/apis", post(|body: Bytes| async move { body }))
        .layer(axum::middleware::from_fn_with_state(creds, require_sigv4))
}

async fn send(
    app: Router,
    body: &'static [u8],
    sign_with: Option<(&AdminCredentials, SystemTime)>,
    extra: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let method = Method::POST;
    let uri: Uri = "/v2/apis?x=1".parse().unwrap();
    let mut h = headers(&[
        ("host", "127.0.0.1:9090"),
        ("content-type", "application/json"),
    ]);
    if let Some((creds, now)) = sign_with {
        sign(&method, &uri, &mut h, body, creds, now);
    }
    for (k, v) in extra {
        h.insert(
            header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .unwrap();
    *req.headers_mut() = h;
    let r = app.oneshot(req).await.unwrap();
    let status = r.status();
    let kind = r
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn middleware_verifies_and_passes_the_body_on() {
    let creds = Arc::new(botocore_creds());
    let app = || echo_app(Some(Arc::clone(&creds)));
    let body: &[u8] = br#"{"name":"pets"}"#;

    let (status, kind, text) = send(app(), body, Some((&creds, SystemTime::now())), &[]).await;
    assert_eq!(
        (status, kind, text.as_str()),
        (StatusCode::OK, None, r#"{"name":"pets"}"#)
    );

    let (status, kind, text) = send(app(), body, None, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(kind.as_deref(), Some("MissingAuthenticationTokenException"));
    assert_eq!(text, r#"{"message":"Missing Authentication Token"}"#);

    let wrong = AdminCredentials::new(BOTOCORE_ACCESS_KEY_ID, "wrong");
    let (status, kind, text) = send(app(), body, Some((&wrong, SystemTime::now())), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(kind.as_deref(), Some("InvalidSignatureException"));
    assert!(
        text.contains("does not match the signature you provided"),
        "{text}"
    );

    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let (status, kind, text) = send(app(), body, Some((&creds, old)), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(kind.as_deref(), Some("InvalidSignatureException"));
    assert!(text.contains("Signature expired"), "{text}");

    let too_big = (ADMIN_BODY_MAX_BYTES + 1).to_string();
    let (status, kind, _) = send(
        app(),
        body,
        Some((&creds, SystemTime::now())),
        &[("content-length", &too_big)],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(kind.as_deref(), Some("RequestEntityTooLargeException"));
}

#[tokio::test]
async fn middleware_bounds_a_body_without_content_length() {
    // No Content-Length header: the limit is enforced while reading.
    let creds = Arc::new(botocore_creds());
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v2/apis")
        .body(Body::from(vec![b'x'; ADMIN_BODY_MAX_BYTES + 1]))
        .unwrap();
    assert!(req.headers().get(header::CONTENT_LENGTH).is_none());
    let r = echo_app(Some(creds)).oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn middleware_without_credentials_passes_everything() {
    let (status, kind, text) = send(echo_app(None), b"hello", None, &[]).await;
    assert_eq!(
        (status, kind, text.as_str()),
        (StatusCode::OK, None, "hello")
    );
}
