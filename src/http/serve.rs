//! The accept loop and graceful shutdown: every request the server accepted gets a complete
//! response, and a client that comes after the listener closed is refused, never reset.
//!
//! axum's own `serve` closes idle connections the moment the shutdown signal arrives. A request
//! already sent on such a connection (in flight on the network, or in the socket's buffer but not
//! yet read) is then lost, and closing a socket with unread bytes makes the kernel send a reset;
//! connections the kernel had accepted but the server had not yet picked up are reset when the
//! listener closes. Both happened to a few requests per signal under load. Here, on the signal:
//!
//! 1. connections already waiting in the listen backlog are picked up, then the listener closes
//!    (later clients are refused: a clean `ECONNREFUSED`);
//! 2. every response from then on carries `Connection: close`, so clients stop reusing their
//!    connections, and each connection closes after its response;
//! 3. connections get [`DRAIN_GRACE`] to deliver a request that was on its way; then idle ones
//!    close, and the server waits for the in-flight ones to finish.
//!
//! HTTP/1.1 only, as axum's default `serve`, with upgrades (WebSocket).

use axum::extract::connect_info::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use futures_util::FutureExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a connection may still deliver a request after the shutdown signal.
pub const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Serves `router` on `listener` until `shutdown` resolves, then drains as the module docs say.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `true` once shutting down; every connection task holds a receiver.
    let (draining, _) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => spawn_connection(stream, peer, &router, &draining),
                Err(err) => accept_failed(err).await,
            },
            () = &mut shutdown => break,
        }
    }
    draining.send_replace(true);
    drain_backlog(listener, &router, &draining);
    // Every connection task holds a receiver; they are gone when every connection closed.
    draining.closed().await;
    Ok(())
}

/// Picks up the connections the kernel completed before the signal, then closes the listener.
///
/// tokio's `accept` only tries the system call after the reactor reported the socket readable,
/// so a connection that arrived since the last wake-up would be missed: ask the socket directly,
/// without blocking, until it has nothing more. The window between the last empty answer and the
/// close is a few microseconds; a connection completed inside it is still reset by the kernel.
fn drain_backlog(listener: TcpListener, router: &Router, draining: &watch::Sender<bool>) {
    let listener = match listener.into_std() {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(error = %err, "could not pick up the listen backlog");
            return;
        }
    };
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let stream = stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream));
                match stream {
                    Ok(stream) => spawn_connection(stream, peer, router, draining),
                    Err(err) => tracing::warn!(error = %err, "a last connection failed"),
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a last connection failed");
                break;
            }
        }
    }
}

/// Errors of `accept` (too many open files, a connection reset before it was accepted) are not
/// the listener's end: wait a little and go on, as axum does.
async fn accept_failed(err: std::io::Error) {
    tracing::warn!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: &Router,
    draining: &watch::Sender<bool>,
) {
    let mut drain = draining.subscribe();
    let closing = draining.subscribe();
    let service = router
        .clone()
        .map_request(move |request: Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        })
        .map_response(move |mut response: axum::response::Response| {
            if *closing.borrow() {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        });
    tokio::spawn(async move {
        // With upgrades: a WebSocket (subscriptions) leaves this loop once upgraded and lives
        // on in its own task; the shutdown does not wait for it (clients reconnect and resume
        // with `afterSequence`).
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let grace_over = async move {
            if drain.wait_for(|draining| *draining).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(DRAIN_GRACE).await;
        };
        let mut grace_over = std::pin::pin!(grace_over.fuse());
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    break;
                }
                () = &mut grace_over => connection.as_mut().graceful_shutdown(),
            }
        }
    });
}
