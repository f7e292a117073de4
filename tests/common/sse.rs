//! A GraphQL-over-SSE client (distinct connections mode) over a real HTTP response, for the
//! subscription tests: post an operation with `Accept: text/event-stream`, read `next` and
//! `complete` events and the keep-alive comments between them.

use super::ws::{POP_CHANGED, WAIT};
use serde_json::{json, Value};
use std::time::Duration;

/// One event of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// `next` or `complete`.
    pub event: String,
    /// Its data, parsed (`null` when empty).
    pub data: Value,
}

/// An open event stream.
pub struct SseClient {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// Comment lines received so far (the server's keep-alives).
    pub comments: usize,
}

/// Posts `body` to `base`'s `/graphql` asking for an event stream; the response must be one.
pub async fn open(base: &str, token: Option<&str>, body: Value) -> SseClient {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("accept", "text/event-stream")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    SseClient::from(request.send().await.expect("POST /graphql"))
}

impl From<reqwest::Response> for SseClient {
    /// Reads `response`, which must be an event stream.
    fn from(response: reqwest::Response) -> SseClient {
        assert_eq!(response.status(), 200);
        let media = &response.headers()["content-type"];
        assert_eq!(media, "text/event-stream", "{:?}", response.headers());
        SseClient {
            response,
            buffer: Vec::new(),
            comments: 0,
        }
    }
}

/// Opens `popChanged` on `pop`.
pub async fn subscribe(base: &str, token: &str, pop: &str, after: Option<i64>) -> SseClient {
    open(
        base,
        Some(token),
        json!({"query": POP_CHANGED, "variables": {"popId": pop, "after": after}}),
    )
    .await
}

impl SseClient {
    /// The response's headers.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.response.headers()
    }

    /// The next event, or `None` when the stream ended; keep-alive comments are counted.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            // Decoded only once a whole event is in: a chunk may end inside a character.
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let bytes: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(bytes).expect("UTF-8 event");
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.strip_prefix(' ').unwrap_or(value));
                    }
                }
                if event.is_empty() && data.is_empty() {
                    continue;
                }
                let data = if data.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&data).expect("JSON data")
                };
                return Some(SseEvent { event, data });
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("an event from the server in time")
                .expect("read the stream")?;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The next `popChanged` event, which must come without errors.
    pub async fn event(&mut self) -> Value {
        let next = self.next().await.expect("an event");
        assert_eq!(next.event, "next", "{next:?}");
        assert!(
            next.data.get("errors").is_none(),
            "unexpected errors: {next:?}"
        );
        next.data["data"]["popChanged"].clone()
    }

    /// Nothing but keep-alives arrives within `quiet`.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        // Comments are read (and counted) inside `next`, which returns only on an event.
        if let Ok(other) = tokio::time::timeout(quiet, self.next()).await {
            panic!("expected nothing, got {other:?}");
        }
    }
}
