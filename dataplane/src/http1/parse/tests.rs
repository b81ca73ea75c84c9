use super::*;

use portico_shared::limits::{HEADER_COUNT_MAX, HEADER_MAX_BYTES};

fn parse(buf: &[u8]) -> Result<Option<RequestHead>, ParseError> {
    parse_request(buf, HEADER_MAX_BYTES, HEADER_COUNT_MAX, &mut Vec::new())
}

/// Parses `input` fed at every split point: every strict prefix of a head must be `Ok(None)`
/// (or the same error as the whole, for early-detected garbage), and the whole must agree.
fn parse_split(input: &[u8]) -> Result<Option<RequestHead>, ParseError> {
    let whole = parse(input);
    if let Ok(Some(head)) = &whole {
        for cut in 0..head.head_len {
            assert!(
                matches!(parse(&input[..cut]), Ok(None)),
                "prefix {cut} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
    whole
}

#[test]
fn simple_get() {
    let raw = b"GET /pets/1?x=1&y=2 HTTP/1.1\r\nHost: abc.execute-api.localhost:8080\r\nAccept: */*\r\n\r\nEXTRA";
    let mut hs = Vec::new();
    let h = parse_request(raw, HEADER_MAX_BYTES, HEADER_COUNT_MAX, &mut hs)
        .unwrap()
        .unwrap();
    assert_eq!(h.method, Method::GET);
    assert_eq!(h.version, Version::Http11);
    assert_eq!(bytes(raw, h.path), b"/pets/1");
    assert_eq!(bytes(raw, h.query), b"x=1&y=2");
    assert_eq!(
        bytes(raw, h.host.unwrap()),
        b"abc.execute-api.localhost:8080"
    );
    assert_eq!(h.head_len, raw.len() - 5);
    assert_eq!(h.body, BodyKind::None);
    assert!(h.keep_alive);
    assert_eq!(hs.len(), 2);
    assert!(parse_split(raw).unwrap().is_some());
}

#[test]
fn framing_and_connection() {
    let cases: &[(&[u8], BodyKind, bool)] = &[
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            BodyKind::Length(5),
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            BodyKind::None,
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            BodyKind::Chunked,
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n",
            BodyKind::Chunked,
            true,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            BodyKind::None,
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n",
            BodyKind::None,
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", BodyKind::None, false),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            BodyKind::None,
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
            BodyKind::Length(3),
            false,
        ),
    ];
    for (raw, body, keep_alive) in cases {
        let h = parse_split(raw)
            .unwrap()
            .unwrap_or_else(|| panic!("{:?}", String::from_utf8_lossy(raw)));
        assert_eq!(h.body, *body, "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(
            h.keep_alive,
            *keep_alive,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn connection_tokens_and_expect() {
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, keep-alive, x-other\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    let h = parse(raw).unwrap().unwrap();
    assert!(h.expect_continue);
    let tokens: Vec<&[u8]> = h.connection_tokens[..h.connection_token_count]
        .iter()
        .map(|s| bytes(raw, *s))
        .collect();
    assert_eq!(tokens, vec![&b"X-Secret"[..], b"x-other"]);
    assert_eq!(
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n").unwrap_err(),
        ParseError::Expectation
    );
}

#[test]
fn smuggling_and_garbage_is_refused() {
    let bad: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\tX: b\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        b"GET / HTTX/1.1\r\nHost: a\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x7f\r\n\r\n",
        // NUL and bare CR anywhere in a complete head (httparse refuses them; the LF-only check
        // of complete heads relies on it).
        b"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\0\r\n\r\n",
        b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n",
        b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\n\n",
        b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:99999x\r\n\r\n",
    ];
    for raw in bad {
        let r = parse(raw);
        assert!(
            matches!(r, Err(ParseError::Malformed(_))),
            "{:?} gave {:?}",
            String::from_utf8_lossy(raw),
            r.map(|h| h.map(|h| h.body))
        );
    }
}

#[test]
fn limits() {
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', HEADER_MAX_BYTES));
    assert_eq!(parse(&big).unwrap_err(), ParseError::HeadersTooLarge);
    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..HEADER_COUNT_MAX {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(parse(&many).unwrap_err(), ParseError::HeadersTooLarge);
    // Exactly at the count limit is fine.
    let mut ok = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..HEADER_COUNT_MAX - 1 {
        ok.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    ok.extend_from_slice(b"\r\n");
    assert!(parse(&ok).unwrap().is_some());
}

#[test]
fn partial_garbage_fails_early() {
    assert!(parse(b"GET / HTTP/1.1\nHost").is_err());
    assert!(parse(b"GET / HTTP/1.1\r\nX: \0").is_err());
    assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: a\r"), Ok(None)));
}

#[test]
fn host_values() {
    let good: &[&[u8]] = &[
        b"",
        b"a",
        b"abc.execute-api.localhost",
        b"abc.execute-api.localhost:8080",
        b"abc.execute-api.localhost:",
        b":80",
        b"127.0.0.1:65535",
        b"a_b~c%20!$&'()*+;=",
        b"[::1]",
        b"[::1]:8080",
        b"[fe80::1.2.3.4]:1",
    ];
    let bad: &[&[u8]] = &[
        b"a b",
        b"a,b",
        b"a/b",
        b"a:b:80",
        b"a:99999x",
        b"a:123456",
        b"a:8o",
        b"[::1",
        b"[]",
        b"[::1]x",
        b"[::1]:x",
        b"[::g]",
        b"a\x7f",
        b"\xc3\xa9",
    ];
    for h in good {
        assert!(valid_host(h), "{:?} refused", String::from_utf8_lossy(h));
    }
    for h in bad {
        assert!(!valid_host(h), "{:?} accepted", String::from_utf8_lossy(h));
    }
}

/// `is_name` against `eq_ignore_ascii_case` for every token-character name of a few lengths
/// around the word sizes, in every case mix of the fixed names and with one byte changed.
#[test]
fn is_name_agrees_with_ignoring_case_on_token_names() {
    use super::is_name;
    let tchar: Vec<u8> = (0u8..=127)
        .filter(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
        .collect();
    let fixed: [&[u8]; 9] = [
        b"te",
        b"host",
        b"expect",
        b"upgrade",
        b"trailer",
        b"connection",
        b"content-length",
        b"x-forwarded-proto",
        b"proxy-authorization",
    ];
    for lower in fixed {
        let upper = lower.to_ascii_uppercase();
        assert!(is_name(lower, lower));
        assert!(is_name(&upper, lower));
        for i in 0..lower.len() {
            let mut mixed = lower.to_vec();
            mixed[i] = upper[i];
            assert!(is_name(&mixed, lower));
            for &b in &tchar {
                let mut other = lower.to_vec();
                other[i] = b;
                assert_eq!(
                    is_name(&other, lower),
                    other.eq_ignore_ascii_case(lower),
                    "{:?} vs {:?}",
                    String::from_utf8_lossy(&other),
                    String::from_utf8_lossy(lower)
                );
            }
        }
        assert!(!is_name(&lower[1..], lower));
        assert!(!is_name(&[lower, b"x"].concat(), lower));
    }
}
