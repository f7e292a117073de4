//! The HTTP load generator: `clients` tasks in a closed loop against the running server, a warm-up
//! that is not recorded, then a fixed measured window. Any failed request fails the benchmark.

use crate::measure::{self, Measurement};
use crate::BoxError;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A GraphQL client bound to one server and token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    url: String,
    auth: Option<String>,
}

impl Api {
    /// A client for `base` (`http://host:port`) sending `token`.
    pub fn new(base: &str, token: &str) -> Result<Api, BoxError> {
        Api::with_auth(base, Some(format!("Bearer {token}")))
    }

    /// A client for `base` sending no credentials (a peer server without authentication).
    pub fn anonymous(base: &str) -> Result<Api, BoxError> {
        Api::with_auth(base, None)
    }

    fn with_auth(base: &str, auth: Option<String>) -> Result<Api, BoxError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Api {
            http,
            url: format!("{base}/graphql"),
            auth,
        })
    }

    /// Runs one operation; an HTTP error or any GraphQL error is an `Err` with the response.
    pub async fn gql(&self, query: &str, variables: Value) -> Result<Value, String> {
        let mut request = self.http.post(&self.url);
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let response = request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("HTTP {status}: unreadable body: {e}"))?;
        if !status.is_success() || body.get("errors").is_some() {
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(body["data"].clone())
    }
}

/// Runs `op(client, iteration)` from `clients` concurrent tasks: first for `warmup` (not
/// recorded), then for `window`, and measures the completed operations of the window.
pub async fn run<F, Fut>(
    clients: usize,
    warmup: Duration,
    window: Duration,
    op: F,
) -> Result<Measurement, BoxError>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + window;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut hist = measure::histogram();
            let mut iteration = 0u64;
            loop {
                let began = Instant::now();
                if began >= stop_at {
                    return Ok(hist);
                }
                op(client, iteration).await?;
                let ended = Instant::now();
                // Only operations that ran entirely inside the window count.
                if began >= measure_from && ended <= stop_at {
                    measure::record(&mut hist, ended - began);
                }
                iteration += 1;
            }
        }));
    }
    let mut total = measure::histogram();
    for task in tasks {
        let hist: Result<_, String> = task.await?;
        total.add(hist?)?;
    }
    let measured = Measurement::from_histogram(&total, window);
    if measured.count == 0 {
        return Err("no operation completed inside the measured window".into());
    }
    Ok(measured)
}
