//! A `graphql-transport-ws` client over a real WebSocket (tokio-tungstenite), for the
//! subscription tests: connect with a token, subscribe, read events and close codes.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for one message.
pub const WAIT: Duration = Duration::from_secs(15);

/// The `popChanged` subscription with every field of an event.
pub const POP_CHANGED: &str = "subscription($popId: ID!, $after: Int) { \
    popChanged(popId: $popId, afterSequence: $after) { kind popId sequence integrityHash \
    action actor { username } changedPaths createdAt } }";

/// What the server said, other than a ping.
#[derive(Debug)]
pub enum Received {
    /// A protocol message.
    Message(Value),
    /// The server closed the connection with this code and reason.
    Closed(u16, String),
}

/// An open `graphql-transport-ws` connection.
pub struct WsClient {
    socket: Socket,
    /// WebSocket pings received so far (the server's keep-alives).
    pub pings: usize,
}

/// Opens a WebSocket to `base` (`http://host:port`) at `/graphql` and sends `connection_init`
/// with `token`; returns the client and the server's first answer (`connection_ack`, or a close).
pub async fn connect(base: &str, token: Option<&str>) -> (WsClient, Received) {
    let url = format!("{}/graphql", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket upgrade");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    let mut client = WsClient { socket, pings: 0 };
    let payload = match token {
        Some(token) => json!({"Authorization": format!("Bearer {token}")}),
        None => json!({}),
    };
    client
        .send(json!({"type": "connection_init", "payload": payload}))
        .await;
    let first = client.receive().await;
    (client, first)
}

/// [`connect`] that must be acknowledged.
pub async fn connect_ok(base: &str, token: &str) -> WsClient {
    let (client, first) = connect(base, Some(token)).await;
    match first {
        Received::Message(m) if m["type"] == "connection_ack" => client,
        other => panic!("expected connection_ack, got {other:?}"),
    }
}

impl WsClient {
    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// Starts `popChanged` on `pop` as subscription `id`.
    pub async fn subscribe(&mut self, id: &str, pop: &str, after: Option<i64>) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {
            "query": POP_CHANGED, "variables": {"popId": pop, "after": after}}}))
            .await;
    }

    /// The next message or close, skipping pings (answered by tungstenite).
    pub async fn receive(&mut self) -> Received {
        loop {
            let next = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a message from the server in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Received::Message(serde_json::from_str(&text).expect("JSON message"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(frame) => {
                            Received::Closed(u16::from(frame.code), frame.reason.to_string())
                        }
                        None => Received::Closed(u16::from(CloseCode::Status), String::new()),
                    }
                }
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(_)) => {}
                Some(Err(err)) => return Received::Closed(0, err.to_string()),
                None => return Received::Closed(0, "ended".into()),
            }
        }
    }

    /// The next protocol message, which must be one.
    pub async fn message(&mut self) -> Value {
        match self.receive().await {
            Received::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next `popChanged` event of subscription `id`, which must come without errors.
    pub async fn event(&mut self, id: &str) -> Value {
        let message = self.message().await;
        assert_eq!(message["type"], "next", "{message:#}");
        assert_eq!(message["id"], id, "{message:#}");
        assert!(
            message["payload"].get("errors").is_none(),
            "unexpected errors: {message:#}"
        );
        message["payload"]["data"]["popChanged"].clone()
    }

    /// The `extensions.code` of the error that ends subscription `id`, and then its `complete`.
    pub async fn ending_error(&mut self, id: &str) -> String {
        let message = self.message().await;
        assert_eq!(message["id"], id, "{message:#}");
        let code = message["payload"]["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error, got {message:#}"))
            .to_owned();
        let complete = self.message().await;
        assert_eq!(complete["type"], "complete", "{complete:#}");
        code
    }

    /// Nothing arrives within `quiet` (pings aside).
    pub async fn assert_silent(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_)))) => self.pings += 1,
                Ok(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }
}
