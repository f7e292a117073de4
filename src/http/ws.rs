//! GraphQL subscriptions over WebSocket at `/graphql` (`GET` with `Upgrade: websocket`), with the
//! `graphql-transport-ws` protocol (the `graphql-ws` npm client) through async-graphql.
//!
//! - The bearer token travels in `connection_init`'s payload, as `{"Authorization": "Bearer …"}`
//!   (browsers cannot set headers on a WebSocket); a missing or invalid token closes the
//!   connection with **4403** `Forbidden`, as the protocol says, and a database that cannot be
//!   asked with **1013** `Try again later`.
//! - Every [`crate::config::LiveConfig::keepalive`] the server sends a WebSocket ping (browsers
//!   answer it by themselves), so idle connections stay open through proxies.
//! - Subscriptions per connection are counted ([`ConnectionCount`]) for
//!   `SUBSCRIPTIONS_PER_CONNECTION`; queries and mutations sent on the socket are counted in the
//!   operation metrics as HTTP ones are ([`SocketMetrics`]).

use super::AppState;
use crate::auth;
use crate::graphql::auth::ClientAddr;
use crate::graphql::deadline::SocketDeadline;
use crate::live::limits::ConnectionCount;
use crate::telemetry::operation::SocketMetrics;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{future, SinkExt, StreamExt};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Close code of a refused `connection_init` (`graphql-transport-ws`: Forbidden).
pub const FORBIDDEN: u16 = 4403;
/// Close code when the token could not be checked (the database is away): retry later.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// Whether `headers` ask for a WebSocket.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Upgrades `request` to a GraphQL WebSocket (`426`/`400` if it is not a valid one); `client` is
/// the caller's address (after trusted proxies), which operations on the socket see as HTTP ones do.
pub async fn upgrade(state: AppState, request: Request, client: IpAddr) -> Response {
    let (mut parts, _) = request.into_parts();
    let protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        });
    let Some(protocol) = protocol else {
        return (
            StatusCode::BAD_REQUEST,
            "ask for the `graphql-transport-ws` WebSocket subprotocol",
        )
            .into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .on_upgrade(move |socket| serve(socket, state, protocol, client))
}

/// Why `connection_init` was refused, to pick the close code.
type Refusal = Arc<Mutex<Option<u16>>>;

async fn serve(socket: WebSocket, state: AppState, protocol: WebSocketProtocols, client: IpAddr) {
    let (mut sink, source) = socket.split();
    let refusal: Refusal = Arc::default();
    let input = source
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let init_state = state.clone();
    let init_refusal = Arc::clone(&refusal);
    let mut messages = async_graphql::http::WebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(move |payload| {
            connection_init(init_state, init_refusal, client, payload)
        });
    let mut keepalive = tokio::time::interval(state.live.keepalive);
    keepalive.tick().await;
    loop {
        let outgoing = tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => {
                    let code = refusal
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .unwrap_or(code);
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })))
                        .await;
                    return;
                }
                None => return,
            },
            _ = keepalive.tick() => Message::Ping(Default::default()),
        };
        if sink.send(outgoing).await.is_err() {
            return;
        }
    }
}

/// Authenticates the token of `connection_init`; the connection's data holds the user and its
/// subscription count.
async fn connection_init(
    state: AppState,
    refusal: Refusal,
    client: IpAddr,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let refuse = |code: u16, message: &str| {
        *refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(code);
        Err(async_graphql::Error::new(message))
    };
    let Some(token) = bearer(&payload) else {
        return refuse(
            FORBIDDEN,
            "send the token in connection_init as {\"Authorization\": \"Bearer …\"}",
        );
    };
    match auth::authenticate(&state.db, &token, &state.http.tokens).await {
        Ok(Some(user)) => {
            let mut data = Data::default();
            data.insert(user);
            data.insert(ClientAddr(client));
            data.insert(SocketDeadline(state.http.request_timeout));
            data.insert(ConnectionCount::default());
            data.insert(SocketMetrics(Arc::clone(&state.metrics)));
            Ok(data)
        }
        Ok(None) => refuse(
            FORBIDDEN,
            "the bearer token is not valid (revoked, expired or mistyped)",
        ),
        Err(err) => refuse(TRY_AGAIN_LATER, &err.message()),
    }
}

/// The token of a `connection_init` payload: `Authorization` (any case) holding `Bearer <token>`.
fn bearer(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    let value = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.as_str())?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_comes_from_the_authorization_key_of_the_payload() {
        assert_eq!(
            bearer(&json!({"Authorization": "Bearer abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer(&json!({"authorization": "Bearer abc "})).as_deref(),
            Some("abc")
        );
        assert_eq!(bearer(&json!({"Authorization": "abc"})), None);
        assert_eq!(bearer(&json!({"Authorization": "Bearer "})), None);
        assert_eq!(bearer(&json!(null)), None);
    }
}
