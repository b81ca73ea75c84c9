//! Fuzzes `http1::parse::parse_request` with raw bytes, as a downstream client sends them.
//!
//! Beyond "no panic", each input checks:
//! 1. A parsed head is inside the input: `head_len` and every span (path, query, headers, Host,
//!    api id, Connection tokens) lie within the head, and the spans say what they claim (the path
//!    starts with '/', the query follows a '?', names are tokens, values hold no CR/LF/NUL).
//! 2. The outcome depends on the head only: re-parsing `input[..head_len]` gives the same result.
//! 3. Reads can end anywhere: every prefix of a complete head is `Ok(None)`; every prefix of an
//!    incomplete one too; a prefix of a refused input is `Ok(None)` or an error of the same class
//!    (a prefix can show a malformed byte before the full input overruns a size limit, so when
//!    the full input is `HeadersTooLarge` any error class is accepted).
//! 4. Tighter limits only ever turn an outcome into `HeadersTooLarge`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_dataplane::http1::parse::{parse_request, HeaderSpans, ParseError, RequestHead, Span};
use portico_shared::limits::{HEADER_COUNT_MAX, HEADER_MAX_BYTES};

/// Limits small enough that short inputs reach the size and count checks.
const TIGHT_HEADER_BYTES: usize = 64;
const TIGHT_HEADER_COUNT: usize = 4;

/// Up to this length every cut is tried; past it, about this many cuts are sampled.
const CUTS_MAX: usize = 512;

type Outcome = Result<Option<RequestHead>, ParseError>;

fuzz_target!(|data: &[u8]| {
    let (full, headers) = parse(data, HEADER_MAX_BYTES, HEADER_COUNT_MAX);
    match &full {
        Ok(Some(head)) => {
            check_head(data, head, &headers, HEADER_MAX_BYTES, HEADER_COUNT_MAX);
            let (alone, alone_headers) =
                parse(&data[..head.head_len], HEADER_MAX_BYTES, HEADER_COUNT_MAX);
            assert_same("head alone", &full, &headers, &alone, &alone_headers);
            for cut in cuts(head.head_len) {
                let (prefix, _) = parse(&data[..cut], HEADER_MAX_BYTES, HEADER_COUNT_MAX);
                assert!(
                    matches!(prefix, Ok(None)),
                    "prefix {cut} of a complete head ({} bytes) gave {prefix:?}",
                    head.head_len
                );
            }
        }
        Ok(None) => {
            for cut in cuts(data.len()) {
                let (prefix, _) = parse(&data[..cut], HEADER_MAX_BYTES, HEADER_COUNT_MAX);
                assert!(
                    matches!(prefix, Ok(None)),
                    "prefix {cut} of an incomplete head gave {prefix:?}"
                );
            }
        }
        Err(e) => {
            for cut in cuts(data.len()) {
                let (prefix, _) = parse(&data[..cut], HEADER_MAX_BYTES, HEADER_COUNT_MAX);
                match prefix {
                    Ok(None) => {}
                    Ok(Some(_)) => panic!("prefix {cut} of a refused input ({e:?}) was accepted"),
                    Err(pe) => assert!(
                        same_class(&pe, e) || *e == ParseError::HeadersTooLarge,
                        "prefix {cut} gave {pe:?}, the whole input {e:?}"
                    ),
                }
            }
        }
    }

    let (tight, tight_headers) = parse(data, TIGHT_HEADER_BYTES, TIGHT_HEADER_COUNT);
    if let Ok(Some(head)) = &tight {
        check_head(
            data,
            head,
            &tight_headers,
            TIGHT_HEADER_BYTES,
            TIGHT_HEADER_COUNT,
        );
    }
    if !matches!(tight, Err(ParseError::HeadersTooLarge)) {
        assert_same("tight limits", &full, &headers, &tight, &tight_headers);
    }
    if let Ok(Some(head)) = &full {
        if head.head_len <= TIGHT_HEADER_BYTES && headers.len() <= TIGHT_HEADER_COUNT {
            assert_same(
                "tight limits, small head",
                &full,
                &headers,
                &tight,
                &tight_headers,
            );
        }
    }
});

fn parse(buf: &[u8], max_header_bytes: usize, max_header_count: usize) -> (Outcome, HeaderSpans) {
    // Stale spans must not leak into a result: start from garbage, as a reused Vec would be.
    let mut headers: HeaderSpans = vec![((7, 3), (9, 1))];
    let outcome = parse_request(buf, max_header_bytes, max_header_count, &mut headers);
    if !matches!(outcome, Ok(Some(_))) {
        headers.clear(); // Unspecified unless a head was parsed.
    }
    (outcome, headers)
}

/// Every cut below `len` when it is short, else a sample that includes both ends.
fn cuts(len: usize) -> impl Iterator<Item = usize> {
    let step = if len <= CUTS_MAX { 1 } else { len / 64 };
    let tail = if step == 1 { len } else { len - 4 };
    (0..len).step_by(step).chain(tail..len)
}

fn same_class(a: &ParseError, b: &ParseError) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn assert_same(
    what: &str,
    a: &Outcome,
    a_headers: &HeaderSpans,
    b: &Outcome,
    b_headers: &HeaderSpans,
) {
    // RequestHead has no PartialEq; its Debug form lists every field.
    assert_eq!(
        format!("{a:?}"),
        format!("{b:?}"),
        "{what}: outcomes differ"
    );
    assert_eq!(a_headers, b_headers, "{what}: header spans differ");
}

fn within(s: Span, end: usize) -> bool {
    s.0 <= s.1 && s.1 as usize <= end
}

fn bytes(buf: &[u8], s: Span) -> &[u8] {
    &buf[s.0 as usize..s.1 as usize]
}

fn check_head(
    data: &[u8],
    head: &RequestHead,
    headers: &HeaderSpans,
    max_bytes: usize,
    max_count: usize,
) {
    let n = head.head_len;
    assert!(
        n <= data.len(),
        "head_len {n} past the input ({})",
        data.len()
    );
    assert!(
        n <= max_bytes,
        "head_len {n} past max_header_bytes {max_bytes}"
    );
    assert!(
        data[..n].ends_with(b"\r\n\r\n"),
        "head does not end with a blank line"
    );
    assert!(
        headers.len() <= max_count,
        "{} headers past the limit {max_count}",
        headers.len()
    );

    // Empty lines before the request line are skipped (RFC 9112 section 2.2), and counted in
    // head_len.
    let mut line = &data[..n];
    while let Some(rest) = line.strip_prefix(b"\r\n") {
        line = rest;
    }
    let method = head.method.as_str().as_bytes();
    assert!(
        line.starts_with(method) && line.get(method.len()) == Some(&b' '),
        "method {method:?}"
    );

    assert!(within(head.path, n), "path {:?}", head.path);
    let path = bytes(data, head.path);
    assert!(path.starts_with(b"/"), "path {path:?}");
    assert!(!path.contains(&b'?'), "path holds the query: {path:?}");
    assert!(within(head.query, n), "query {:?}", head.query);
    let no_query = head.query == (head.path.1, head.path.1);
    let after_mark = head.query.0 == head.path.1 + 1 && data[head.path.1 as usize] == b'?';
    assert!(
        no_query || after_mark,
        "query {:?} does not follow path {:?}",
        head.query,
        head.path
    );

    for &(name, value) in headers {
        assert!(
            within(name, n) && within(value, n),
            "header span out of the head: {name:?} {value:?}"
        );
        assert!(
            name.1 <= value.0,
            "header name {name:?} overlaps its value {value:?}"
        );
        let name = bytes(data, name);
        assert!(!name.is_empty(), "empty header name");
        assert!(
            !name
                .iter()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || *b == b':'),
            "header name is not a token: {name:?}"
        );
        let value = bytes(data, value);
        assert!(
            !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "header value {value:?}"
        );
    }
    for s in head.host.iter().chain(head.api_id.iter()) {
        assert!(within(*s, n), "Host / api id span {s:?}");
    }
    assert!(head.connection_token_count <= head.connection_tokens.len());
    for s in &head.connection_tokens[..head.connection_token_count] {
        assert!(within(*s, n) && s.0 < s.1, "Connection token span {s:?}");
    }
}
