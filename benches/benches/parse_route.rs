//! Criterion benchmarks for the stages before the pipeline proper: request head parsing
//! (`http1::parse`), route lookup (`router::resolve`) and chunked body decoding (`http1::body`).
//!
//! Groups and IDs:
//! - `parse/{curl_get,browser_get,post_content_length}`: one request head each.
//! - `route/{static,param,greedy,miss}/{10,1000,10000}`: the same lookup against routers of 10,
//!   1,000 and 10,000 routes, so `route/param/10` and `route/param/10000` compare directly. The
//!   router is a segment trie with hashed static children, so a lookup should cost about the same
//!   whatever the table size (acceptance: 10,000 / 10 ≤ 2x).
//! - `route/param_mixed/{10,1000,10000}`: param lookups cycling over up to 1,024 resources, so
//!   the larger tables also pay for cache misses (the single-path lookups above stay in L1).
//! - `chunked/{decode_64KiB_4KiB_chunks,decode_64KiB_4KiB_reads}`: a 64 KiB body in 4 KiB chunks,
//!   decoded in one call and fed as 4 KiB reads (as the connection loop does).
//!
//! Every input is checked once before it is measured, so a bench cannot silently time an error
//! path.
//!
//! Run: `cargo bench -p portico-benches -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::Method;
use portico_dataplane::http1::body::ChunkedDecoder;
use portico_dataplane::http1::parse::{parse_request, BodyKind, HeaderSpans};
use portico_shared::limits::{HEADER_COUNT_MAX, HEADER_MAX_BYTES};
use portico_shared::router::{Router, RouterBuilder};

/// Route table sizes compared by the `route` group.
const ROUTE_COUNTS: [usize; 3] = [10, 1_000, 10_000];

/// Distinct paths the `route/param_mixed` lookups cycle through.
const MIXED_PATHS: usize = 1024;

/// Body and chunk sizes for the `chunked` group.
const CHUNKED_BODY_BYTES: usize = 64 * 1024;
const CHUNK_BYTES: usize = 4 * 1024;

const CURL_GET: &[u8] = b"GET /v1/pets/42 HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
\r\n";

const BROWSER_GET: &[u8] = b"GET /v1/pets/42/photos?size=large&format=webp HTTP/1.1\r\n\
Host: api.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://api.example.com/v1/pets\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9,fr;q=0.8\r\n\
Cookie: session=6f1c2a9e0b7d4e3f8a5c1d2e3f4a5b6c; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\
\r\n";

const POST_JSON: &[u8] = b"POST /v1/pets HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: python-requests/2.31.0\r\n\
Accept-Encoding: gzip, deflate\r\n\
Accept: application/json\r\n\
Connection: keep-alive\r\n\
Content-Type: application/json\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl\r\n\
x-api-key: 3f9a1c7e5b2d4a6c8e0f1a3b5c7d9e1f\r\n\
Content-Length: 49\r\n\
\r\n\
{\"name\":\"Rex\",\"species\":\"dog\",\"age\":3,\"tag\":\"a\"}";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    let cases: [(&str, &[u8], BodyKind); 3] = [
        ("curl_get", CURL_GET, BodyKind::None),
        ("browser_get", BROWSER_GET, BodyKind::None),
        ("post_content_length", POST_JSON, BodyKind::Length(49)),
    ];
    let mut headers = HeaderSpans::with_capacity(HEADER_COUNT_MAX);
    for (name, input, body) in cases {
        let head = parse_request(input, HEADER_MAX_BYTES, HEADER_COUNT_MAX, &mut headers)
            .expect("bench input is a valid request")
            .expect("bench input holds a complete head");
        assert_eq!(head.body, body, "{name}");
        group.throughput(Throughput::Bytes(head.head_len as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                parse_request(
                    black_box(input),
                    HEADER_MAX_BYTES,
                    HEADER_COUNT_MAX,
                    &mut headers,
                )
            })
        });
    }
    group.finish();
}

/// A route table of exactly `count` routes, shaped like a large REST API: per resource a
/// collection, an item (`{id}`) and a nested item (`{id}/items/{itemId}`); a greedy file route on
/// every 8th resource; a greedy `/static/{proxy+}`; and `$default`.
struct Table {
    router: Router,
    keys: Vec<String>,
    /// The last resource whose nested item route made it into the table.
    deep: usize,
    /// The last resource with a greedy file route.
    greedy: usize,
}

fn resource_routes(k: usize) -> Vec<String> {
    let mut keys = vec![
        format!("GET /v1/res{k}"),
        format!("POST /v1/res{k}"),
        format!("GET /v1/res{k}/{{id}}"),
        format!("PUT /v1/res{k}/{{id}}"),
        format!("DELETE /v1/res{k}/{{id}}"),
        format!("GET /v1/res{k}/{{id}}/items"),
        format!("GET /v1/res{k}/{{id}}/items/{{itemId}}"),
    ];
    if k.is_multiple_of(8) {
        keys.push(format!("ANY /v1/res{k}/files/{{proxy+}}"));
    }
    keys
}

fn table(count: usize) -> Table {
    const FIXED: [&str; 2] = ["ANY /static/{proxy+}", "$default"];
    let mut keys: Vec<String> = Vec::with_capacity(count);
    let (mut deep, mut greedy) = (0, 0);
    let mut k = 0;
    while keys.len() < count - FIXED.len() {
        for key in resource_routes(k) {
            if keys.len() == count - FIXED.len() {
                break;
            }
            if key.ends_with("{itemId}") {
                deep = k;
            }
            if key.ends_with("{proxy+}") {
                greedy = k;
            }
            keys.push(key);
        }
        k += 1;
    }
    keys.extend(FIXED.iter().map(|k| k.to_string()));
    let mut b = RouterBuilder::new();
    for (i, key) in keys.iter().enumerate() {
        let index = u32::try_from(i).expect("tables are far below u32::MAX routes");
        b.insert(key, index)
            .expect("generated route keys are valid and distinct");
    }
    let router = b.build();
    assert_eq!(router.len(), count);
    Table {
        router,
        keys,
        deep,
        greedy,
    }
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    for count in ROUTE_COUNTS {
        let t = table(count);
        let (deep, greedy) = (t.deep, t.greedy);
        // (lookup kind, method, path, expected route key)
        let lookups = [
            (
                "static",
                Method::GET,
                format!("/v1/res{deep}"),
                format!("GET /v1/res{deep}"),
            ),
            (
                "param",
                Method::GET,
                format!("/v1/res{deep}/8f14e45f/items/1234"),
                format!("GET /v1/res{deep}/{{id}}/items/{{itemId}}"),
            ),
            (
                "greedy",
                Method::GET,
                format!("/v1/res{greedy}/files/2024/05/report.pdf"),
                format!("ANY /v1/res{greedy}/files/{{proxy+}}"),
            ),
            // Walks five segments deep and back, once for full matches and once for greedy
            // ones, then lands on `$default`: the most work a lookup in these tables can do.
            (
                "miss",
                Method::GET,
                format!("/v1/res{deep}/8f14e45f/items/1234/unknown"),
                "$default".to_string(),
            ),
        ];
        for (kind, method, path, expect) in &lookups {
            let m = t
                .router
                .resolve(method, path)
                .expect("every lookup resolves");
            assert_eq!(
                &t.keys[m.route as usize], expect,
                "{kind} {path} in {count} routes"
            );
            group.bench_with_input(BenchmarkId::new(*kind, count), path, |b, path| {
                b.iter(|| {
                    t.router
                        .resolve(black_box(method), black_box(path))
                        .map(|m| m.route)
                })
            });
        }
        // The lookups above repeat one path, so the nodes they touch stay in L1 whatever the
        // table size. Here each iteration takes the next of up to MIXED_PATHS param lookups
        // spread over every resource, as real traffic does, so a large table pays its cache misses.
        let resources = t.deep + 1;
        let spread = MIXED_PATHS.min(resources);
        let mixed: Vec<(String, String)> = (0..spread)
            .map(|i| i * resources / spread)
            .map(|k| {
                (
                    format!("/v1/res{k}/{}/items/7", k * 31),
                    format!("GET /v1/res{k}/{{id}}/items/{{itemId}}"),
                )
            })
            .collect();
        for (path, expect) in &mixed {
            let m = t
                .router
                .resolve(&Method::GET, path)
                .expect("every lookup resolves");
            assert_eq!(
                &t.keys[m.route as usize], expect,
                "{path} in {count} routes"
            );
        }
        group.bench_with_input(
            BenchmarkId::new("param_mixed", count),
            &mixed,
            |b, mixed| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % mixed.len();
                    t.router
                        .resolve(&Method::GET, black_box(&mixed[i].0))
                        .map(|m| m.route)
                })
            },
        );
    }
    group.finish();
}

fn chunked_body() -> (Vec<u8>, Vec<u8>) {
    let body: Vec<u8> = (0..CHUNKED_BODY_BYTES).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::with_capacity(CHUNKED_BODY_BYTES + 256);
    for chunk in body.chunks(CHUNK_BYTES) {
        wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    (body, wire)
}

fn chunked(c: &mut Criterion) {
    let (body, wire) = chunked_body();
    let mut group = c.benchmark_group("chunked");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    let mut out = Vec::with_capacity(CHUNKED_BODY_BYTES);

    let mut d = ChunkedDecoder::new(CHUNKED_BODY_BYTES);
    assert_eq!(d.decode(&wire, &mut out), Ok(wire.len()));
    assert!(d.is_done());
    assert_eq!(out, body);
    group.bench_function("decode_64KiB_4KiB_chunks", |b| {
        b.iter(|| {
            out.clear();
            let mut d = ChunkedDecoder::new(CHUNKED_BODY_BYTES);
            let used = d.decode(black_box(&wire), &mut out);
            debug_assert!(d.is_done());
            used
        })
    });

    group.bench_function("decode_64KiB_4KiB_reads", |b| {
        b.iter(|| {
            out.clear();
            let mut d = ChunkedDecoder::new(CHUNKED_BODY_BYTES);
            for read in black_box(&wire).chunks(CHUNK_BYTES) {
                let used = d.decode(read, &mut out).expect("bench body is valid");
                debug_assert_eq!(used, read.len());
            }
            debug_assert!(d.is_done());
        })
    });
    group.finish();
}

criterion_group!(benches, parse, route, chunked);
criterion_main!(benches);
