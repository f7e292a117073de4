//! The HTTP load generator: `clients` tasks in a closed loop against the running server, a warm-up
//! that is not recorded, then a fixed measured window. Any failed request fails the benchmark.

use crate::measure::{self, Measurement};
use crate::BoxError;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
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

    /// Sends a body made by [`body`] and reads the response's `data` as `T`, a type with just
    /// the fields the caller checks: an HTTP error, a response that is not JSON, any GraphQL
    /// error or a `data` without `T`'s shape is an `Err` with the response. The load loops use
    /// it so that the client spends little CPU on the machine it shares with the servers: the
    /// body is serialized once, and the response is read without building a tree of it (the
    /// parts skipped with [`IgnoredAny`], [`JsonObject`] or [`JsonArray`] are still read in
    /// full and must be valid JSON).
    pub async fn send<T: DeserializeOwned>(&self, body: Vec<u8>) -> Result<T, String> {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("HTTP {status}: unreadable body: {e}"))?;
        let failed = |why: &str| {
            let text = String::from_utf8_lossy(&bytes);
            format!("HTTP {status}: {why}: {text}")
        };
        if !status.is_success() {
            return Err(failed("not a success"));
        }
        match serde_json::from_slice::<Envelope<T>>(&bytes) {
            Ok(Envelope {
                data: Some(data),
                errors: None,
            }) => Ok(data),
            Ok(_) => Err(failed("GraphQL errors")),
            Err(e) => Err(failed(&format!("unexpected response ({e})"))),
        }
    }
}

/// A GraphQL request body, serialized once for [`Api::send`].
pub fn body(query: &str, variables: &Value) -> Vec<u8> {
    json!({ "query": query, "variables": variables })
        .to_string()
        .into_bytes()
}

/// A GraphQL response, as [`Api::send`] reads it.
#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    errors: Option<IgnoredAny>,
}

/// Any JSON object, read through without being kept.
pub struct JsonObject;

/// Any JSON array, read through without being kept.
pub struct JsonArray;

/// Reads a JSON value of one kind, keeping nothing of it.
struct Skip(&'static str);

impl<'de> serde::de::Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Skip("a JSON object"))
            .map(|()| JsonObject)
    }
}

impl<'de> Deserialize<'de> for JsonArray {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(Skip("a JSON array")).map(|()| JsonArray)
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
