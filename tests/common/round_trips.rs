//! A TCP relay between the server and PostgreSQL that counts round trips: on each connection,
//! every time the server sends after PostgreSQL has answered it (or sends for the first time),
//! one more. Statements the server pipelines go out together and count once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running relay to PostgreSQL; it stops with the test's runtime.
pub struct RoundTrips {
    count: Arc<AtomicUsize>,
}

impl RoundTrips {
    /// Starts relaying a free port of 127.0.0.1 to the server of `database_url`; returns the
    /// relay and the URL to give the server instead.
    pub async fn start(database_url: &str) -> (RoundTrips, String) {
        let mut url = url::Url::parse(database_url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                relay(client, server, Arc::clone(&counted));
            }
        });
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        (RoundTrips { count }, url.to_string())
    }

    /// Round trips so far, over all connections.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Copies both ways between `client` and `server`, counting the client's turns.
fn relay(client: TcpStream, server: TcpStream, count: Arc<AtomicUsize>) {
    // Forward each read at once, so the relay neither merges nor delays what it counts.
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whether the database has answered since the client last sent.
    let answered = Arc::new(AtomicBool::new(true));
    let heard = Arc::clone(&answered);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 1 << 20];
        while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
            if answered.swap(false, Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 1 << 20];
        while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
            heard.store(true, Ordering::SeqCst);
            if client_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
}
