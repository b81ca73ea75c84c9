//! The pipeline's stages, in the order `pipeline::handle` runs them: resolve the route,
//! authorize (JWT, Lambda and IAM authorizers, resource policies), admit (API keys,
//! throttles, quotas), the REST response cache, and request validation. Each takes the
//! request, the snapshot and only the per-core state it needs, and returns
//! `Result<_, GatewayError>`.

pub mod admit;
pub mod authorize;
pub mod cache;
pub mod resolve;
pub mod validate;

/// What the stages' table tests build requests and snapshots from (no runtime, no socket).
#[cfg(test)]
pub(crate) mod testing {
    use portico_shared::Snapshot;

    use crate::http1::parse::HeaderSpans;
    use crate::http1::RequestHead;

    /// A snapshot compiled from a configuration file's JSON.
    pub(crate) fn snapshot(json: &str) -> Snapshot {
        let config: portico_shared::model::Config =
            serde_json::from_str(json).expect("a configuration");
        portico_shared::compile::compile_config(&config, 1).expect("compiles")
    }

    /// A request head parsed from `raw` (which must hold the whole head).
    pub(crate) fn head(raw: &[u8]) -> (RequestHead, HeaderSpans) {
        let mut spans = HeaderSpans::new();
        let head = crate::http1::parse_request(raw, 16 * 1024, 100, &mut spans)
            .expect("parses")
            .expect("complete");
        (head, spans)
    }

    /// The request of `head` (parsed from `buf`) with body `body`, from a loopback peer.
    pub(crate) fn request<'a>(
        head: &'a RequestHead,
        buf: &'a [u8],
        headers: &'a HeaderSpans,
        body: &'a [u8],
    ) -> crate::request::Request<'a> {
        crate::request::Request {
            head,
            buf,
            headers,
            body,
            peer: "127.0.0.1:1".parse().expect("an address"),
            local_port: 80,
            tls: None,
            request_id: crate::request_id::RequestIds::new(1).next(),
            grant: None,
        }
    }
}
