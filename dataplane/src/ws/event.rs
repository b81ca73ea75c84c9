//! One WebSocket event (CONNECT, MESSAGE, DISCONNECT) sent to a route's integration:
//! template selection and rendering (`$context.connectionId`, `routeKey`, `eventType`,
//! `messageId`, `connectedAt`, `disconnectStatusCode`, ...), the `MOCK`/`HTTP`/`HTTP_PROXY`
//! call, and the integration response that shapes the answer.
//!
//! `AWS_PROXY` (Lambda) integrations get the WebSocket Lambda proxy event
//! ([`Event::proxy_event`]: `eventType`, `connectionId`, `routeKey`, `messageId`, `connectedAt`,
//! identity, the handshake's headers and query on CONNECT, `disconnectStatusCode`/`Reason` on
//! DISCONNECT) through the Lambda Invoke client (`integration/lambda/call.rs`); the answer's `statusCode` and
//! `body` are read by [`read_lambda_answer`]. The event is built with serde_json: a Lambda call
//! costs far more than its allocations.

use std::collections::BTreeMap;
use std::time::Instant;

use portico_shared::template::{Context, ContextVar, WsVar};
use portico_shared::websocket::{mock_status, RequestBody, WsIntegration, WsTarget};

use super::frame::Opcode;
use super::registry::Conn;
use super::Core;
use crate::error::GatewayError;
use crate::http1::parse::{bytes, HeaderSpans, Span};
use crate::request_id::RequestId;

/// What happened on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Connect,
    Message,
    Disconnect,
}

/// One event, as integrations (and, later, the Lambda proxy event) see it.
#[derive(Debug)]
pub struct Event<'a> {
    pub kind: EventType,
    pub route_key: &'a str,
    pub conn: &'a Conn,
    pub request_id: RequestId,
    /// MESSAGE events.
    pub message_id: Option<RequestId>,
    pub body: &'a [u8],
    /// The message came in binary frames.
    pub binary: bool,
    /// DISCONNECT events: the close code and reason.
    pub disconnect: Option<(u16, &'a str)>,
    /// CONNECT events: the upgrade request's buffer, headers and query.
    pub handshake: Option<(&'a [u8], &'a HeaderSpans, Span)>,
    pub stage_variables: &'a BTreeMap<String, String>,
}

// === impl Event ===

impl Event<'_> {
    /// The client's `X-Amzn-Trace-Id` (`$connect`: the upgrade request's header).
    pub fn client_trace(&self) -> Option<&[u8]> {
        let (buf, headers, _) = self.handshake?;
        headers
            .iter()
            .find(|(n, _)| bytes(buf, *n).eq_ignore_ascii_case(b"x-amzn-trace-id"))
            .map(|(_, v)| bytes(buf, *v))
    }

    /// The WebSocket Lambda proxy event (`AWS_PROXY`), as AWS sends it. `domain` is
    /// `requestContext.domainName`.
    pub fn proxy_event(&self, domain: &str, now_ms: u64) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let id = String::from_utf8_lossy(self.request_id.as_bytes()).into_owned();
        let conn = self.conn;
        let mut identity = json!({
            "sourceIp": conn.source_ip(),
            "userAgent": conn.user_agent(),
        });
        if let Some(caller) = conn.iam.as_deref() {
            identity["accessKey"] = (&*caller.access_key).into();
            identity["accountId"] = (&*caller.account_id).into();
            identity["caller"] = (&*caller.user).into();
            identity["user"] = (&*caller.user).into();
            identity["userArn"] = (&*caller.user_arn).into();
        }
        let mut clf = Vec::with_capacity(32);
        crate::request::clf_time(&mut clf, now_ms);
        let request_time = String::from_utf8_lossy(&clf);
        let mut cx = json!({
            "routeKey": self.route_key,
            "eventType": match self.kind {
                EventType::Connect => "CONNECT",
                EventType::Message => "MESSAGE",
                EventType::Disconnect => "DISCONNECT",
            },
            "extendedRequestId": id,
            "requestTime": request_time,
            "messageDirection": "IN",
            "stage": conn.stage_name(),
            "connectedAt": conn.connected_at_ms,
            "requestTimeEpoch": now_ms,
            "identity": identity,
            "requestId": id,
            "domainName": domain,
            "connectionId": conn.text_id(),
            "apiId": conn.api_id(),
        });
        if let Some(g) = conn.authorizer.as_deref() {
            // As AWS: `{"principalId", "integrationLatency", ...context}`.
            let mut a = match serde_json::from_str::<Value>(&g.context_json) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            a.insert("principalId".into(), g.principal_id.as_deref().into());
            a.insert("integrationLatency".into(), 0.into());
            cx["authorizer"] = Value::Object(a);
        }
        if let Some(m) = self.message_id {
            cx["messageId"] = String::from_utf8_lossy(m.as_bytes()).into_owned().into();
        }
        if let Some((code, reason)) = self.disconnect {
            cx["disconnectStatusCode"] = code.into();
            cx["disconnectReason"] = reason.into();
        }
        let mut event = json!({ "requestContext": cx, "isBase64Encoded": self.binary });
        if !self.stage_variables.is_empty() {
            event["stageVariables"] = json!(self.stage_variables);
        }
        if self.kind == EventType::Message {
            event["body"] = if self.binary {
                crate::ws::registry::base64_encode(self.body).into()
            } else {
                String::from_utf8_lossy(self.body).into_owned().into()
            };
        }
        let text = |b: &[u8]| Value::from(String::from_utf8_lossy(b).into_owned());
        let mut single = Map::new();
        let mut multi = Map::new();
        let mut add = |name: Value, value: Value| {
            let Value::String(name) = name else { return };
            if let Value::Array(values) = multi
                .entry(name.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                values.push(value.clone());
            }
            single.insert(name, value);
        };
        match self.handshake {
            // CONNECT: the upgrade request's headers and query string.
            Some((buf, headers, query)) => {
                for (n, v) in headers {
                    add(text(bytes(buf, *n)), text(bytes(buf, *v)));
                }
                // X-Ray: AWS adds the trace header when the client sent none.
                if self.client_trace().is_none() {
                    let trace = self.request_id.trace_header(None);
                    add("X-Amzn-Trace-Id".into(), text(trace.as_bytes()));
                }
                let q = bytes(buf, query);
                if !q.is_empty() {
                    let mut single = Map::new();
                    let mut multi: Map<String, Value> = Map::new();
                    let mut decoded = Vec::new();
                    for pair in q.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                        let mut kv = pair.splitn(2, |&b| b == b'=');
                        let mut part = |raw: &[u8]| {
                            decoded.clear();
                            portico_shared::percent::decode_into(raw, &mut decoded);
                            String::from_utf8_lossy(&decoded).into_owned()
                        };
                        let k = part(kv.next().unwrap_or_default());
                        let v = part(kv.next().unwrap_or_default());
                        if let Value::Array(values) =
                            multi.entry(k.clone()).or_insert_with(|| json!([]))
                        {
                            values.push(v.clone().into());
                        }
                        single.insert(k, v.into());
                    }
                    event["queryStringParameters"] = single.into();
                    event["multiValueQueryStringParameters"] = multi.into();
                }
            }
            // DISCONNECT: the headers AWS sends (no request is in flight).
            None if self.kind == EventType::Disconnect => {
                add("Host".into(), domain.into());
                add("x-api-key".into(), "".into());
                add("X-Forwarded-For".into(), "".into());
                add("x-restapi".into(), "".into());
            }
            None => {}
        }
        if self.kind != EventType::Message {
            event["headers"] = single.into();
            event["multiValueHeaders"] = multi.into();
        }
        event
    }
}

/// The integration's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// `$connect`: the `Sec-WebSocket-Protocol` the integration chose.
    pub subprotocol: Option<Vec<u8>>,
    /// A MOCK that passed the message through answers in the message's own frame type.
    pub opcode: Option<Opcode>,
}

impl Answer {
    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            body: Vec::new(),
            subprotocol: None,
            opcode: None,
        }
    }
}

/// Records WebSocket events into the worker's route stats: the `$connect` route's count is
/// `ConnectCount`, the other routes' `MessageCount`; 4xx/5xx classes are `ClientError` /
/// `IntegrationError`, and the latency histogram is `IntegrationLatency`.
#[derive(Debug, Default)]
pub struct WsStats;

impl WsStats {
    pub fn record(
        &self,
        w: &Core<'_>,
        ev: &Event<'_>,
        stage: &portico_shared::snapshot::Stage,
        route: &portico_shared::websocket::WsRoute,
        answer: &Result<Answer, GatewayError>,
        started: Instant,
    ) {
        let conn = ev.conn;
        let status = match answer {
            Ok(a) => a.status,
            Err(e) => e.status(),
        };
        let us = started.elapsed().as_micros() as u64;
        // Access log: the event's line, queued for the writer thread.
        if let Some(log) = stage.access_log.as_deref() {
            let ms = (us / 1000, crate::access_log::now_ms());
            crate::access_log::record(log, || crate::access_log::Entry {
                request_id: Some(ev.request_id),
                started_ms: ms.1.saturating_sub(ms.0),
                source_ip: conn.source_ip().parse().ok(),
                user_agent: Some(conn.user_agent().as_bytes()),
                host: Some(conn.domain().as_bytes()),
                api_id: conn.api_id(),
                stage: conn.stage_name(),
                route_key: Some(&route.route_key),
                status,
                response_latency_ms: ms.0,
                integration_latency_ms: Some(ms.0),
                integration_status: answer.as_ref().ok().map(|a| a.status),
                error: answer.as_ref().err().copied(),
                principal_id: conn
                    .authorizer
                    .as_deref()
                    .and_then(|g| g.principal_id.as_deref()),
                connection_id: Some(conn.text_id().as_bytes()),
                connected_at_ms: Some(conn.connected_at_ms),
                event_type: Some(match ev.kind {
                    EventType::Connect => "CONNECT",
                    EventType::Message => "MESSAGE",
                    EventType::Disconnect => "DISCONNECT",
                }),
                message_id: ev.message_id.as_ref().map(RequestId::as_bytes),
                ..Default::default()
            });
        }
        // Execution log: the route's `loggingLevel`; `Off` costs this branch.
        if route.trace.level != portico_shared::snapshot::TraceLevel::Off {
            let latency_ms = us / 1000;
            let outcome = match answer {
                Ok(a) => crate::trace::WsOutcome::Answered {
                    status: a.status,
                    body: &a.body,
                    latency_ms,
                    sent: route.route_response && ev.kind == EventType::Message,
                },
                Err(e) => crate::trace::WsOutcome::Failed {
                    error: *e,
                    latency_ms,
                },
            };
            crate::trace::ws_record(&crate::trace::WsFinished {
                trace: route.trace,
                route_key: Some(&route.route_key),
                body: ev.body,
                integration: route.integration.as_deref(),
                ..exec_log(&ev.request_id, conn, ev.kind, outcome)
            });
        }
        w.stats.borrow_mut().record_ws(
            (conn.api_id(), conn.stage_name(), &route.route_key),
            route.stats_key,
            status,
            us,
        );
    }

    /// A message no route took (`ClientError`).
    pub fn client_error(&self, w: &Core<'_>) {
        let mut stats = w.stats.borrow_mut();
        stats.counters.bad_requests += 1;
        stats.mark();
    }
}

/// A WebSocket event's execution log, with the connection's parts filled in (the caller sets
/// the route's settings, the route key, the message, the integration and the outcome).
pub fn exec_log<'a>(
    request_id: &'a RequestId,
    conn: &'a Conn,
    kind: EventType,
    outcome: crate::trace::WsOutcome<'a>,
) -> crate::trace::WsFinished<'a> {
    crate::trace::WsFinished {
        trace: Default::default(),
        request_id: request_id.as_bytes(),
        api_id: conn.api_id(),
        stage: conn.stage_name(),
        connection_id: conn.text_id(),
        event_type: match kind {
            EventType::Connect => "CONNECT",
            EventType::Message => "MESSAGE",
            EventType::Disconnect => "DISCONNECT",
        },
        route_key: None,
        source_ip: conn.source_ip(),
        user_agent: conn.user_agent(),
        body: &[],
        integration: None,
        outcome,
    }
}

/// Sends `ev` to `integration` and shapes its answer.
pub async fn invoke(
    w: &Core<'_>,
    integration: &WsIntegration,
    ev: &Event<'_>,
) -> Result<Answer, GatewayError> {
    if let WsTarget::Lambda(t) = &integration.target {
        // A proxy integration: no templates, no integration responses.
        return call_lambda(w, t, ev).await;
    }
    let mut key = String::new();
    let selected = match &integration.template_selection {
        Some(sel) => {
            let json: Option<serde_json::Value> = if sel.needs_body() {
                serde_json::from_slice(ev.body).ok()
            } else {
                None
            };
            sel.evaluate(json.as_ref(), &mut key)
                .then_some(key.as_str())
        }
        None => None,
    };
    let cx = Cx { ev, body: ev.body };
    let mut request = Vec::new();
    let passthrough = match integration.template(selected) {
        RequestBody::Template(t) => {
            t.render(&cx, &mut request);
            false
        }
        RequestBody::Passthrough => {
            request.extend_from_slice(ev.body);
            true
        }
        RequestBody::Unsupported => return Err(GatewayError::ApiConfiguration),
    };
    let (status, output, subprotocol) = match &integration.target {
        WsTarget::Mock => {
            let status = std::str::from_utf8(&request)
                .ok()
                .and_then(mock_status)
                .unwrap_or(200);
            (status, request, None)
        }
        WsTarget::Http(t) | WsTarget::HttpProxy(t) => {
            let body = if matches!(integration.target, WsTarget::HttpProxy(_)) {
                ev.body
            } else {
                &request
            };
            call_http(w, t, ev, body).await?
        }
        WsTarget::Lambda(t) => return call_lambda(w, t, ev).await,
    };
    let mut answer = Answer {
        status,
        body: output,
        subprotocol,
        opcode: None,
    };
    if matches!(integration.target, WsTarget::HttpProxy(_)) {
        return Ok(answer);
    }
    let mut templated = false;
    if let Some(r) = integration.response_for(status) {
        if let Some(t) = &r.template {
            let cx = Cx {
                ev,
                body: &answer.body,
            };
            let mut out = Vec::new();
            t.render(&cx, &mut out);
            answer.body = out;
            templated = true;
        }
    }
    if matches!(integration.target, WsTarget::Mock) && passthrough && !templated {
        answer.opcode = Some(if ev.binary {
            Opcode::Binary
        } else {
            Opcode::Text
        });
    }
    Ok(answer)
}

/// One HTTP exchange with the integration's upstream; returns status, body and the
/// `Sec-WebSocket-Protocol` header. The integration's timeout is `t.timeout_ms`.
async fn call_http(
    w: &Core<'_>,
    t: &portico_shared::snapshot::HttpProxy,
    ev: &Event<'_>,
    body: &[u8],
) -> Result<(u16, Vec<u8>, Option<Vec<u8>>), GatewayError> {
    let mut call = w.take_call();
    call.clear();
    let method = t.method.clone().unwrap_or(http::Method::POST);
    let r = &mut call.req;
    r.extend_from_slice(method.as_str().as_bytes());
    r.push(b' ');
    let before = r.len();
    for p in &t.path {
        if let portico_shared::snapshot::PathPart::Literal(s) = p {
            r.extend_from_slice(s.as_bytes());
        }
    }
    if r.len() == before {
        r.push(b'/');
    }
    // `requestParameters`: every value rendered first (a control byte fails the event).
    let mapping = t.request_mapping.as_deref();
    let mut mapped: Vec<(bool, &str, Vec<u8>)> = Vec::new();
    if let Some(m) = mapping {
        let cx = Cx { ev, body };
        for (header, op) in m
            .headers
            .iter()
            .map(|o| (true, o))
            .chain(m.query.iter().map(|o| (false, o)))
        {
            let mut v = Vec::new();
            op.value.render(&cx, b"", &mut v);
            if !portico_shared::mapping::is_clean(&v) {
                w.give_call(call);
                return Err(GatewayError::ApiConfiguration);
            }
            if !v.is_empty() {
                mapped.push((header, &*op.name, v));
            }
        }
    }
    // `$connect`: the handshake's query string goes along (`?name=alice`), after the URI's own;
    // a name a mapping sets is replaced by the mapping's value.
    let connect_query = ev.handshake.map_or(&[][..], |(buf, _, q)| bytes(buf, q));
    let mut sep = b'?';
    if !t.query.is_empty() {
        r.push(sep);
        r.extend_from_slice(t.query.as_bytes());
        sep = b'&';
    }
    for pair in connect_query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
    {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        if mapping.is_some_and(|m| m.drops_query(name)) {
            continue;
        }
        r.push(sep);
        r.extend_from_slice(pair);
        sep = b'&';
    }
    for (_, name, v) in mapped.iter().filter(|(header, _, _)| !header) {
        r.push(sep);
        crate::integration::rest::percent_encode(name.as_bytes(), r);
        r.push(b'=');
        crate::integration::rest::percent_encode(v, r);
        sep = b'&';
    }
    r.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    r.extend_from_slice(t.host_header.as_bytes());
    r.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
    r.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    r.extend_from_slice(b"\r\n");
    if let Some((buf, headers, _)) = ev.handshake {
        // `$connect`: the client's headers go along, as AWS sends them (not the hop-by-hop
        // ones, nor the handshake's own).
        for (n, v) in headers {
            let name = bytes(buf, *n);
            let skip = crate::http1::write::is_hop_by_hop(name)
                || name.eq_ignore_ascii_case(b"host")
                || name.eq_ignore_ascii_case(b"content-length")
                || name.eq_ignore_ascii_case(b"content-type")
                || name.len() > 14 && name[..14].eq_ignore_ascii_case(b"sec-websocket-")
                || mapping.is_some_and(|m| m.drops_header(name));
            if !skip {
                r.extend_from_slice(name);
                r.extend_from_slice(b": ");
                r.extend_from_slice(bytes(buf, *v));
                r.extend_from_slice(b"\r\n");
            }
        }
    }
    for (_, name, v) in mapped.iter().filter(|(header, _, _)| *header) {
        crate::http1::write::header(r, name.as_bytes(), v);
    }
    // X-Ray: `$connect` forwarded the client's header above; otherwise the event gets one.
    if ev.client_trace().is_none()
        && !mapped
            .iter()
            .any(|(h, n, _)| *h && n.eq_ignore_ascii_case("x-amzn-trace-id"))
    {
        crate::http1::write::header(
            r,
            b"x-amzn-trace-id",
            ev.request_id.trace_header(None).as_bytes(),
        );
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    let sent = crate::integration::forward(&w.upstreams(), &mut call, t, &method, None).await;
    let result = sent.map(|resp| {
        let protocol = crate::request::header(&call.resp, &call.headers, b"sec-websocket-protocol")
            .map(<[u8]>::to_vec);
        (resp.status, call.body(&resp).to_vec(), protocol)
    });
    w.give_call(call);
    result
}

/// Invokes the function with the WebSocket proxy event and reads its answer.
async fn call_lambda(
    w: &Core<'_>,
    t: &portico_shared::lambda::LambdaTarget,
    ev: &Event<'_>,
) -> Result<Answer, GatewayError> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let payload = serde_json::to_vec(&ev.proxy_event(ev.conn.domain(), now_ms))
        .map_err(|_| GatewayError::ApiConfiguration)?;
    let mut call = w.take_call();
    let trace = ev.request_id.trace_header(ev.client_trace());
    let upstreams = w.upstreams();
    let invoked = crate::integration::lambda::call::invoke(
        &upstreams,
        &mut call,
        t,
        &payload,
        trace.as_bytes(),
    );
    let result = match invoked.await {
        Ok(r) => read_lambda_answer(call.body(&r)),
        Err(e) => Err(e.into()),
    };
    w.give_call(call);
    result
}

/// The function's answer to a WebSocket event: `{"statusCode", "body", "isBase64Encoded",
/// "headers"}` (AWS's proxy response); an answer without `statusCode` is sent back whole (a
/// string as its text, anything else as JSON), with status 200. `Sec-WebSocket-Protocol` in
/// `headers` is the subprotocol a `$connect` accepts.
pub fn read_lambda_answer(payload: &[u8]) -> Result<Answer, GatewayError> {
    use base64::Engine as _;
    use serde_json::Value;
    let value: Value =
        serde_json::from_slice(payload).map_err(|_| GatewayError::LambdaMalformed)?;
    let o = match value {
        Value::Object(o) if o.contains_key("statusCode") => o,
        Value::Null => return Ok(Answer::empty(200)),
        Value::String(s) => {
            let mut a = Answer::empty(200);
            a.body = s.into_bytes();
            return Ok(a);
        }
        _ => {
            let mut a = Answer::empty(200);
            a.body = payload.to_vec();
            return Ok(a);
        }
    };
    let status = match &o["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))
    .ok_or(GatewayError::LambdaMalformed)?;
    let mut answer = Answer::empty(status);
    let base64 = match o.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(GatewayError::LambdaMalformed),
    };
    match o.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if base64 => {
            answer.body = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| GatewayError::LambdaMalformed)?;
            answer.opcode = Some(Opcode::Binary);
        }
        Some(Value::String(s)) => answer.body = s.as_bytes().to_vec(),
        Some(_) => return Err(GatewayError::LambdaMalformed),
    }
    if let Some(Value::Object(h)) = o.get("headers") {
        answer.subprotocol = h
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
            .and_then(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
            .map(|v| v.as_bytes().to_vec());
    }
    Ok(answer)
}

/// What templates render against.
struct Cx<'a> {
    ev: &'a Event<'a>,
    body: &'a [u8],
}

impl Context for Cx<'_> {
    fn authorizer(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.ev
            .conn
            .authorizer
            .as_deref()?
            .context_value(key)
            .map(std::borrow::Cow::Borrowed)
    }

    fn context(&self, var: ContextVar, out: &mut Vec<u8>) {
        let ev = self.ev;
        let mut num = itoa::Buffer::new();
        match var {
            ContextVar::RequestId | ContextVar::ExtendedRequestId => {
                out.extend_from_slice(ev.request_id.as_bytes())
            }
            ContextVar::ApiId => out.extend_from_slice(ev.conn.api_id().as_bytes()),
            ContextVar::Stage => out.extend_from_slice(ev.conn.stage_name().as_bytes()),
            ContextVar::SourceIp => out.extend_from_slice(ev.conn.source_ip().as_bytes()),
            ContextVar::UserAgent => out.extend_from_slice(ev.conn.user_agent().as_bytes()),
            ContextVar::DomainName => out.extend_from_slice(ev.conn.domain().as_bytes()),
            ContextVar::IdentityUser
            | ContextVar::IdentityUserArn
            | ContextVar::IdentityAccessKey
            | ContextVar::IdentityAccountId => {
                if let Some(c) = ev.conn.iam.as_deref() {
                    out.extend_from_slice(match var {
                        ContextVar::IdentityUser => c.user.as_bytes(),
                        ContextVar::IdentityUserArn => c.user_arn.as_bytes(),
                        ContextVar::IdentityAccessKey => c.access_key.as_bytes(),
                        _ => c.account_id.as_bytes(),
                    });
                }
            }
            ContextVar::RequestTimeEpoch => {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                out.extend_from_slice(num.format(ms).as_bytes());
            }
            ContextVar::Ws(v) => match v {
                WsVar::ConnectionId => out.extend_from_slice(ev.conn.text_id().as_bytes()),
                WsVar::RouteKey => out.extend_from_slice(ev.route_key.as_bytes()),
                WsVar::EventType => out.extend_from_slice(match ev.kind {
                    EventType::Connect => b"CONNECT",
                    EventType::Message => b"MESSAGE",
                    EventType::Disconnect => b"DISCONNECT",
                }),
                WsVar::MessageId => {
                    if let Some(id) = ev.message_id {
                        out.extend_from_slice(id.as_bytes());
                    }
                }
                WsVar::ConnectedAt => {
                    out.extend_from_slice(num.format(ev.conn.connected_at_ms).as_bytes())
                }
                WsVar::MessageDirection => out.extend_from_slice(b"IN"),
                WsVar::DisconnectStatusCode => {
                    if let Some((code, _)) = ev.disconnect {
                        out.extend_from_slice(num.format(code).as_bytes());
                    }
                }
                WsVar::DisconnectReason => {
                    if let Some((_, reason)) = ev.disconnect {
                        out.extend_from_slice(reason.as_bytes());
                    }
                }
            },
            _ => {}
        }
    }

    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.ev.stage_variables.get(name).map(String::as_str)
    }

    fn request_header(&self, name: &str) -> Option<&[u8]> {
        let (buf, headers, _) = self.ev.handshake?;
        crate::request::header(buf, headers, name.as_bytes())
    }

    fn request_query(&self, name: &str) -> Option<&[u8]> {
        let (buf, _, q) = self.ev.handshake?;
        bytes(buf, q).split(|&b| b == b'&').find_map(|pair| {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let k = kv.next()?;
            (k == name.as_bytes()).then(|| kv.next().unwrap_or_default())
        })
    }

    fn request_path(&self, _name: &str) -> Option<&[u8]> {
        None
    }

    fn body(&self) -> &[u8] {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::registry::{channels, Registry};

    #[test]
    fn proxy_events_carry_what_aws_sends() {
        let (peers, _inboxes) = channels(1).unwrap();
        let reg = Registry::new(0, 0, peers, 7);
        let conn = reg.allocate(
            "abc",
            "prod",
            "127.0.0.1".parse().unwrap(),
            b"ua/1",
            b"abc.execute-api.localhost",
            1_000,
        );
        let ids = crate::request_id::RequestIds::new(1);
        let vars = BTreeMap::from([("v".to_string(), "1".to_string())]);
        let msg = Event {
            kind: EventType::Message,
            route_key: "send",
            conn: &conn,
            request_id: ids.next(),
            message_id: Some(ids.next()),
            body: br#"{"action":"send"}"#,
            binary: false,
            disconnect: None,
            handshake: None,
            stage_variables: &vars,
        };
        let e = msg.proxy_event("abc.execute-api.localhost", 1_700_000_000_000);
        let cx = &e["requestContext"];
        assert_eq!(cx["eventType"], "MESSAGE");
        assert_eq!(cx["routeKey"], "send");
        assert_eq!(cx["connectionId"], conn.text_id());
        assert_eq!(cx["connectedAt"], 1_000);
        assert_eq!(cx["identity"]["userAgent"], "ua/1");
        assert!(cx["messageId"].is_string());
        assert_eq!(e["body"], r#"{"action":"send"}"#);
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["stageVariables"]["v"], "1");
        let bye = Event {
            kind: EventType::Disconnect,
            message_id: None,
            body: &[],
            disconnect: Some((1001, "Going away")),
            ..msg
        };
        let e = bye.proxy_event("d", 1_700_000_000_000);
        assert_eq!(e["requestContext"]["disconnectStatusCode"], 1001);
        assert_eq!(e["requestContext"]["eventType"], "DISCONNECT");
        assert_eq!(
            e["requestContext"]["requestTime"],
            "14/Nov/2023:22:13:20 +0000"
        );
        assert_eq!(e["headers"]["Host"], "d");
        assert!(e.get("body").is_none());
    }

    #[test]
    fn lambda_answers() {
        let ok = |p: &str| read_lambda_answer(p.as_bytes()).unwrap();
        let a = ok(r#"{"statusCode": 200, "body": "hi"}"#);
        assert_eq!((a.status, &a.body[..], a.opcode), (200, &b"hi"[..], None));
        let a = ok(r#"{"statusCode": "401"}"#);
        assert_eq!((a.status, a.body.len()), (401, 0));
        let a = ok(r#"{"statusCode": 200, "body": "AAE=", "isBase64Encoded": true}"#);
        assert_eq!(
            (&a.body[..], a.opcode),
            (&[0u8, 1][..], Some(Opcode::Binary))
        );
        let a = ok(r#"{"statusCode": 200, "headers": {"sec-websocket-protocol": "chat"}}"#);
        assert_eq!(a.subprotocol.as_deref(), Some(&b"chat"[..]));
        assert_eq!(ok(r#""text""#).body, b"text");
        assert_eq!(ok(r#"{"a":1}"#).body, br#"{"a":1}"#);
        assert_eq!(ok("null").status, 200);
        for bad in [
            "not json",
            r#"{"statusCode": 42}"#,
            r#"{"statusCode": 200, "body": 5}"#,
            r#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#,
        ] {
            assert!(read_lambda_answer(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
