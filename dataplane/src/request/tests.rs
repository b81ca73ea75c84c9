use super::*;
use crate::http1::parse::parse_request;

/// The former copies of "first value of a header", as each call site wrote it before
/// `request::header` replaced them (site, trimmed?).
const FORMER_SITES: &[(&str, bool)] = &[
    ("cors.rs header (Origin)", true),
    (
        "stages/authorize/jwt.rs (was auth.rs) JWT token header",
        true,
    ),
    ("stages/admit.rs (was admission.rs) x-api-key", true),
    ("ws/mod.rs header (upgrade handshake)", true),
    (
        "rest.rs RestContext::request_header ($input.params, mappings)",
        true,
    ),
    (
        "integration.rs request_header (Accept of Lambda answers)",
        false,
    ),
    ("integration/lambda.rs (was lambda_proxy.rs) header", false),
    (
        "stages/validate.rs (was validate.rs) header (required headers)",
        false,
    ),
    (
        "stages/cache.rs (was cache.rs) cache key header parameter",
        false,
    ),
    ("ws/event.rs request_header", false),
];

fn former(buf: &[u8], headers: &HeaderSpans, name: &[u8], trimmed: bool) -> Option<Vec<u8>> {
    headers
        .iter()
        .find(|(n, _)| bytes(buf, *n).eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            let v = bytes(buf, *v);
            if trimmed {
                trim(v).to_vec()
            } else {
                v.to_vec()
            }
        })
}

#[test]
fn header_is_what_every_former_site_read() {
    // (header lines, name asked for, the value every site reads)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("X-A: 1\r\n", "x-a", Some("1")),
        ("x-a: 1\r\n", "X-A", Some("1")),
        ("X-A: first\r\nX-A: second\r\n", "x-a", Some("first")),
        ("X-A: first, second\r\n", "x-a", Some("first, second")),
        ("X-A:    padded  \r\n", "x-a", Some("padded")),
        ("X-A:\tpadded\t\r\n", "x-a", Some("padded")),
        ("X-A: in ner \r\n", "x-a", Some("in ner")),
        ("X-A:\r\nX-A: later\r\n", "x-a", Some("")),
        ("X-A:   \r\n", "x-a", Some("")),
        ("X-AB: 1\r\n", "x-a", None),
        ("", "x-a", None),
        (
            "Origin: https://a.example\r\nOrigin: https://b.example\r\n",
            "origin",
            Some("https://a.example"),
        ),
    ];
    for (lines, name, want) in cases {
        let raw = format!("GET /p?q=1 HTTP/1.1\r\nHost: h\r\n{lines}\r\n");
        let mut spans = HeaderSpans::new();
        let head = parse_request(raw.as_bytes(), 16 * 1024, 100, &mut spans)
            .expect("parses")
            .expect("complete");
        let buf = raw.as_bytes();
        let got = header(buf, &spans, name.as_bytes());
        assert_eq!(got, want.map(str::as_bytes), "{lines:?} {name}");
        for (site, trimmed) in FORMER_SITES {
            assert_eq!(
                former(buf, &spans, name.as_bytes(), *trimmed).as_deref(),
                got,
                "{site}: {lines:?} {name}"
            );
        }
        let req = Request {
            head: &head,
            buf,
            headers: &spans,
            body: &[],
            peer: "127.0.0.1:1".parse().expect("an address"),
            local_port: 80,
            tls: None,
            request_id: crate::request_id::RequestIds::new(1).next(),
            grant: None,
        };
        assert_eq!(req.header(name.as_bytes()), got);
        assert_eq!(req.query(b"q"), Some(&b"1"[..]));
        assert_eq!(req.path(), b"/p");
    }
}

#[test]
fn header_trims_a_span_that_was_not_parsed() {
    let buf = b"x-a \t v \t";
    let spans: HeaderSpans = vec![((0, 3), (3, 9))];
    assert_eq!(header(buf, &spans, b"X-A"), Some(&b"v"[..]));
}

#[test]
fn query_values() {
    type Case = (&'static [u8], &'static [u8], Option<&'static [u8]>);
    let cases: &[Case] = &[
        (b"a=1&q=x&q=y", b"q", Some(b"x")),
        (b"a=1&q", b"q", Some(b"")),
        (b"q=a=b", b"q", Some(b"a=b")),
        (b"qq=1", b"q", None),
        (b"q%20=1", b"q ", None),
        (b"", b"q", None),
        (b"", b"", None),
    ];
    for (q, name, want) in cases {
        assert_eq!(query(q, name), *want, "{:?}", String::from_utf8_lossy(q));
    }
}

#[test]
fn json_strings() {
    let mut out = Vec::new();
    json_string(&mut out, b"a\"b\\c\n\r\t\x01\xff");
    assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\u0001\\ufffd\"");
    let mut out = Vec::new();
    escape_json(&mut out, "é".as_bytes());
    assert_eq!(out, "é".as_bytes());
}

#[test]
fn clf_times() {
    let cases: &[(u64, &str)] = &[
        (0, "01/Jan/1970:00:00:00 +0000"),
        // 2020-03-12T19:03:58Z
        (1_584_039_838_000, "12/Mar/2020:19:03:58 +0000"),
        (951_782_400_123, "29/Feb/2000:00:00:00 +0000"),
        (1_700_000_000_999, "14/Nov/2023:22:13:20 +0000"),
    ];
    for (ms, want) in cases {
        let mut out = Vec::new();
        clf_time(&mut out, *ms);
        assert_eq!(String::from_utf8_lossy(&out), *want);
    }
}
