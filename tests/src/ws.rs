//! A minimal WebSocket client (RFC 6455) for the end-to-end tests, and the API it talks to.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{find, Gateway};

/// A WebSocket API: route `whoami` answers the caller's connection id (a MOCK), deployed to
/// `prod`.
pub fn whoami_api(gw: &Gateway) -> String {
    let api = gw.admin_json(
        "POST",
        "/v2/apis",
        json!({"name": "chat", "protocolType": "WEBSOCKET",
               "routeSelectionExpression": "$request.body.action"}),
    );
    let id = api["apiId"].as_str().expect("an apiId").to_string();
    let integration = gw.admin_json(
        "POST",
        &format!("/v2/apis/{id}/integrations"),
        json!({"integrationType": "MOCK"}),
    );
    let iid = integration["integrationId"].as_str().expect("an id");
    gw.admin_json(
        "POST",
        &format!("/v2/apis/{id}/integrations/{iid}/integrationresponses"),
        json!({"integrationResponseKey": "$default",
               "responseTemplates": {"$default": "{\"connectionId\":\"$context.connectionId\"}"}}),
    );
    let route = gw.admin_json(
        "POST",
        &format!("/v2/apis/{id}/routes"),
        json!({"routeKey": "whoami", "target": format!("integrations/{iid}"),
               "routeResponseSelectionExpression": "$default"}),
    );
    let rid = route["routeId"].as_str().expect("a routeId");
    gw.admin_json(
        "POST",
        &format!("/v2/apis/{id}/routes/{rid}/routeresponses"),
        json!({"routeResponseKey": "$default"}),
    );
    gw.admin_json(
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "prod", "autoDeploy": true}),
    );
    id
}

/// A minimal WebSocket client (RFC 6455) over a blocking socket.
#[derive(Debug)]
pub struct Ws {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Ws {
    /// Upgrades `/prod` of `api` on `gw`; `None` if the node answers anything but 101.
    pub fn connect(gw: &Gateway, api: &str) -> Option<Ws> {
        let mut stream = TcpStream::connect(gw.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let req = format!(
            "GET /prod HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             User-Agent: cluster-ws-test\r\n\r\n",
            gw.host(api)
        );
        stream.write_all(req.as_bytes()).expect("send upgrade");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
            buf.extend_from_slice(&chunk[..n]);
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            return None;
        }
        buf.drain(..end);
        Some(Ws { stream, buf })
    }

    pub fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        assert!(payload.len() < 126);
        let mask = [7u8, 1, 9, 3];
        let mut f = vec![0x81, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&f).expect("send frame");
    }

    /// The next frame: its opcode and payload; `None` at end of stream or after the timeout.
    pub fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut chunk = [0u8; 4096];
        loop {
            if self.buf.len() >= 2 {
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (
                        usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                        4,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (usize::from(n), 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let opcode = self.buf[0] & 0x0f;
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some((opcode, payload));
                }
            }
            let n = self.stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn recv_text(&mut self) -> String {
        let (opcode, payload) = self.recv().expect("a frame");
        assert_eq!(
            opcode,
            1,
            "a text frame: {}",
            String::from_utf8_lossy(&payload)
        );
        String::from_utf8(payload).expect("UTF-8")
    }

    /// Asks `whoami` for the connection's id.
    pub fn id(&mut self) -> String {
        self.send_text(r#"{"action":"whoami"}"#);
        let me: Value = serde_json::from_str(&self.recv_text()).expect("JSON");
        me["connectionId"].as_str().expect("an id").to_string()
    }
}
