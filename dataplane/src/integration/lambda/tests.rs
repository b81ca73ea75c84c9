//! Table tests of the Lambda proxy's answers and event pieces (no runtime).

use super::*;
use portico_shared::lambda::{compile_target, LambdaEnv};

fn proxy(format: PayloadFormat, rest: bool) -> LambdaProxy {
    let env = LambdaEnv::from_vars(|n| {
        (n == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:9".to_string())
    });
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
    LambdaProxy {
        integration_id: "i".into(),
        target: compile_target(&env, arn, false, None, 1000).unwrap(),
        format,
        rest,
        account_id: "000000000000".into(),
        binary_media_types: vec!["image/png".into()],
    }
}

/// (status, header lines, body) of `payload`, or the error.
fn read(
    p: &LambdaProxy,
    payload: &str,
    accept: Option<&[u8]>,
) -> Result<(u16, String, Vec<u8>), GatewayError> {
    let mut reply = LambdaReply::default();
    read_response(p, payload.as_bytes(), accept, &mut Vec::new(), &mut reply)?;
    let lines = String::from_utf8(reply.buf[..reply.lines].to_vec()).unwrap();
    Ok((reply.status, lines, reply.buf[reply.lines..].to_vec()))
}

#[test]
fn answers() {
    let v1 = proxy(PayloadFormat::V1, false);
    let v2 = proxy(PayloadFormat::V2, false);
    let rest = proxy(PayloadFormat::V1, true);
    // multiValueHeaders win over headers for the same name; numbers are rendered.
    let (status, lines, body) = read(
        &v1,
        r#"{"statusCode":"202","headers":{"X-A":"1","x-b":2,"content-type":"text/plain"},"multiValueHeaders":{"x-a":["m1","m2"]},"body":"hi"}"#,
        None,
    )
    .unwrap();
    assert_eq!(status, 202);
    assert_eq!(
        lines,
        "x-b: 2\r\ncontent-type: text/plain\r\nx-a: m1\r\nx-a: m2\r\n"
    );
    assert_eq!(body, b"hi");
    // No content type: application/json; framing headers of the function are dropped.
    let (_, lines, _) = read(
        &v1,
        r#"{"statusCode":200,"headers":{"Content-Length":"9","Transfer-Encoding":"chunked"}}"#,
        None,
    )
    .unwrap();
    assert_eq!(lines, "content-type: application/json\r\n");
    // 2.0: cookies; inferred answers.
    let (_, lines, _) = read(&v2, r#"{"statusCode":200,"cookies":["a=1"]}"#, None).unwrap();
    assert!(lines.contains("set-cookie: a=1\r\n"), "{lines}");
    assert_eq!(read(&v2, r#"[1,2]"#, None).unwrap().2, b"[1,2]");
    assert_eq!(read(&v2, r#""text""#, None).unwrap().2, b"text");
    assert_eq!(read(&v2, r#"{"a":1}"#, None).unwrap().0, 200);
    // 1.0 has no inferred answer, and no cookies member.
    for bad in [
        r#""text""#,
        r#"[1]"#,
        r#"{"cookies":["a=1"]}"#,
        r#"{"statusCode":true}"#,
        "",
        "{",
    ] {
        assert_eq!(
            read(&v1, bad, None).unwrap_err(),
            GatewayError::LambdaMalformed,
            "{bad}"
        );
    }
    // Header names and values are checked before they reach the downstream head.
    for bad in [
        r#"{"headers":{"a b":"1"}}"#,
        r#"{"headers":{"a":"1\n2"}}"#,
        r#"{"multiValueHeaders":{"a":[1]}}"#,
        r#"{"headers":{"a":["1"]}}"#,
    ] {
        assert_eq!(
            read(&v1, bad, None).unwrap_err(),
            GatewayError::LambdaMalformed,
            "{bad}"
        );
    }
    // REST decodes base64 only for binary media types (the answer's or the accepted one).
    let b64 = r#"{"statusCode":200,"headers":{"content-type":"image/png"},"body":"AAH/","isBase64Encoded":true}"#;
    assert_eq!(read(&rest, b64, None).unwrap().2, [0, 1, 255]);
    let text = r#"{"statusCode":200,"body":"AAH/","isBase64Encoded":true}"#;
    assert_eq!(read(&rest, text, None).unwrap().2, b"AAH/");
    assert_eq!(
        read(&rest, text, Some(b"image/png")).unwrap().2,
        [0, 1, 255]
    );
    assert_eq!(read(&v1, text, None).unwrap().2, [0, 1, 255]);
}

#[test]
fn strings_and_query_components() {
    let mut out = Vec::new();
    json_string(&mut out, b"a\"b\\c\n\x01\xff");
    assert_eq!(out, b"\"a\\\"b\\\\c\\n\\u0001\\ufffd\"");
    assert!(percent::same_decoded(b"a%20b", b"a b"));
    assert!(!percent::same_decoded(b"a", b"b"));
    let mut out = Vec::new();
    write_query(
        b"a=1&a=2&b=x%20y&&c",
        QueryShape::All,
        &mut out,
        &mut Vec::new(),
    );
    assert_eq!(out, br#"{"a":["1","2"],"b":["x y"],"c":[""]}"#);
    out.clear();
    write_query(b"a=1&a=2", QueryShape::Joined, &mut out, &mut Vec::new());
    assert_eq!(out, br#"{"a":"1,2"}"#);
    out.clear();
    write_query(b"", QueryShape::Last, &mut out, &mut Vec::new());
    assert_eq!(out, b"null");
}

#[test]
fn client_certificates_in_aws_shape() {
    let mut out = Vec::new();
    openssl_time(&mut out, 1_628_156_164);
    assert_eq!(out, b"\"Aug  5 09:36:04 2021 GMT\"");
    let cert = crate::tls::ClientCert {
        info: portico_shared::x509::CertInfo {
            subject: "CN=client,O=Example".into(),
            issuer: "CN=Example CA".into(),
            serial: "0a:1b".into(),
            not_before_s: 1_559_046_602,
            not_after_s: 1_628_156_164,
            common_name: Some("client".into()),
            dns_names: Vec::new(),
            is_ca: false,
        },
        pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
    };
    let mut out = Vec::new();
    client_cert(&mut out, &cert);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "clientCertPem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "subjectDN": "CN=client,O=Example",
            "issuerDN": "CN=Example CA",
            "serialNumber": "0a:1b",
            "validity": {"notBefore": "May 28 12:30:02 2019 GMT", "notAfter": "Aug  5 09:36:04 2021 GMT"}
        })
    );
}
