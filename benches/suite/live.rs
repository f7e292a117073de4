//! Live changes across two server processes on one PostgreSQL: how long after an autosave is sent
//! to process A its `popChanged` event reaches a subscriber of process B (16 writers, each saving
//! its own POP with one subscriber on it), next to the autosave's own round trip in the same run;
//! then process B's memory and CPU with 1,000 open subscriptions, idle and while the writers save.

use crate::load::{self, Api};
use crate::measure::{self, Measurement};
use crate::report::{Report, Row};
use crate::server::{self, CpuOf, CpuWindow, Server};
use crate::{data, step, BoxError, Settings};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Size of an autosaved document, bytes of JSON (as in the autosave run).
const DOCUMENT_BYTES: usize = 6 * 1024;
/// Open subscriptions of the memory and CPU run.
const SUBSCRIPTIONS: usize = 1_000;
/// Subscriptions per WebSocket connection (the server's default `SUBSCRIPTIONS_PER_CONNECTION`).
const PER_CONNECTION: usize = 20;
/// How long an event may take before the run counts it as lost.
const LOST_AFTER: Duration = Duration::from_secs(10);

const AUTOSAVE: &str = "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
    changed autosaveSequence pop { id } } }";
const POP_CHANGED: &str = "subscription($popId: ID!) { popChanged(popId: $popId) { \
    kind sequence createdAt } }";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// When each save was sent, by (POP, the sequence it will get); the subscriber takes it out.
type Pending = Arc<Mutex<HashMap<(usize, i64), Instant>>>;

/// What the subscribers saw.
#[derive(Default)]
struct Seen {
    /// Send-to-event latencies of saves sent inside the measured window.
    latency: Mutex<Option<Histogram<u64>>>,
    /// For the same saves, from the time the server stamped on the write (`createdAt`, taken
    /// when its transaction begins, before the commit) to the event.
    from_write: Mutex<Option<Histogram<u64>>>,
    /// Events received in all.
    events: AtomicU64,
}

/// Runs the section and adds its two tables.
pub async fn section(
    report: &mut Report,
    s: &Settings,
    url: &str,
    token: &str,
) -> Result<(), BoxError> {
    let pool = s.clients.to_string();
    let limit = (SUBSCRIPTIONS * 2).to_string();
    let writer = Server::start(url, &[("DB_POOL_SIZE", &pool)]).await?;
    let reader = Server::start(
        url,
        &[("DB_POOL_SIZE", &pool), ("SUBSCRIPTIONS_PER_USER", &limit)],
    )
    .await?;
    let api = Api::new(&writer.base, token)?;
    let pops = create_pops(&api, s.clients).await?;
    let sequences: Arc<Vec<AtomicI64>> =
        Arc::new(pops.iter().map(|(_, seq)| AtomicI64::new(*seq)).collect());
    let uuids: Arc<Vec<String>> = Arc::new(pops.into_iter().map(|(uuid, _)| uuid).collect());

    step("live: event latency, one subscriber per POP on the other process");
    let pending: Pending = Arc::default();
    let seen = Arc::new(Seen::default());
    // Set when the writers start (after the subscribers connected), as the load's own window.
    let window: Arc<std::sync::OnceLock<(Instant, Instant)>> = Arc::default();
    let mut listeners = Vec::new();
    for (index, uuid) in uuids.iter().enumerate() {
        let mut socket = connect(&reader.base, token).await?;
        subscribe(&mut socket, "0", uuid).await?;
        let pending = Arc::clone(&pending);
        let seen = Arc::clone(&seen);
        let window = Arc::clone(&window);
        listeners.push(tokio::spawn(async move {
            listen(socket, move |sequence, written| {
                let sent = lock(&pending).remove(&(index, sequence));
                if let (Some(sent), Some(&(start, end))) = (sent, window.get()) {
                    if sent >= start && sent <= end {
                        let mut latency = lock(&seen.latency);
                        measure::record(
                            latency.get_or_insert_with(measure::histogram),
                            sent.elapsed(),
                        );
                        let since_write =
                            (chrono::Utc::now() - written).to_std().unwrap_or_default();
                        let mut from_write = lock(&seen.from_write);
                        measure::record(
                            from_write.get_or_insert_with(measure::histogram),
                            since_write,
                        );
                    }
                }
                seen.events.fetch_add(1, Ordering::Relaxed);
            })
            .await
        }));
    }
    let start = Instant::now() + s.warmup;
    let _ = window.set((start, start + s.window));
    let saves = save_loop(&api, s, &uuids, &sequences, Some(Arc::clone(&pending))).await?;
    let waited = wait_for_events(&pending).await;
    stop(std::mem::take(&mut listeners)).await?;
    waited?;
    let latency = lock(&seen.latency)
        .take()
        .map(|hist| Measurement::from_histogram(&hist, s.window))
        .ok_or("no event of a save sent in the measured window arrived")?;
    let from_write = lock(&seen.from_write)
        .take()
        .map(|hist| Measurement::from_histogram(&hist, s.window))
        .ok_or("no event of a save sent in the measured window arrived")?;

    report.table(
        &format!(
            "7. Live changes: autosave on one process → `popChanged` on another ({} writers, one \
             subscriber per POP, over WebSocket)",
            s.clients
        ),
        "the autosave's own round trip",
        &[
            Row {
                what: "write stamped by the server → event received, p50",
                value: from_write.p50_ms,
                baseline: saves.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "write stamped by the server → event received, p99",
                value: from_write.p99_ms,
                baseline: saves.p99_ms,
                unit: "ms",
                goal: Some(("p99 < 100 ms".into(), from_write.p99_ms < 100.0)),
            },
            Row {
                what: "save sent → event received, p50",
                value: latency.p50_ms,
                baseline: saves.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "save sent → event received, p99",
                value: latency.p99_ms,
                baseline: saves.p99_ms,
                unit: "ms",
                goal: None,
            },
        ],
    );
    report.push(&format!(
        "\n{} saves in the window, {} events received in all (warm-up included), none lost (a save whose event has \
         not arrived {} s after the run fails it). Commit → subscriber is shorter than both \
         measures: the server stamps a write (`createdAt`, same clock) when its transaction \
         begins, before it locks the POP, and a save is sent before that.",
        saves.count,
        seen.events.load(Ordering::Relaxed),
        LOST_AFTER.as_secs()
    ));

    step(&format!("live: {SUBSCRIPTIONS} open subscriptions"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server::proc_mib(reader.pid(), "VmRSS").unwrap_or(0.0);
    let fanned = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::new();
    for connection in 0..SUBSCRIPTIONS.div_ceil(PER_CONNECTION) {
        let mut socket = connect(&reader.base, token).await?;
        for slot in 0..PER_CONNECTION {
            let n = connection * PER_CONNECTION + slot;
            if n < SUBSCRIPTIONS {
                subscribe(&mut socket, &slot.to_string(), &uuids[n % uuids.len()]).await?;
            }
        }
        sockets.push(socket);
    }
    // Every subscription is registered once the server has answered something on each socket:
    // a ping-pong round trip after the subscribe messages.
    for socket in &mut sockets {
        round_trip(socket).await?;
    }
    for socket in sockets {
        let fanned = Arc::clone(&fanned);
        listeners.push(tokio::spawn(async move {
            listen(socket, move |_, _| {
                fanned.fetch_add(1, Ordering::Relaxed);
            })
            .await
        }));
    }
    let idle_window = Duration::from_secs(5);
    let idle_cpu = CpuWindow::start(vec![CpuOf::Tree(reader.pid())], Duration::ZERO, idle_window);
    tokio::time::sleep(idle_window).await;
    let idle_ms_per_s = idle_cpu.per_operation_ms(1)[0] / idle_window.as_secs_f64();
    let rss_open = server::proc_mib(reader.pid(), "VmRSS").unwrap_or(0.0);

    let servers = vec![CpuOf::Tree(reader.pid()), CpuOf::Tree(writer.pid())];
    let cpu = CpuWindow::start(servers, s.warmup, s.window);
    // Events delivered in the measured window, counted as the CPU is.
    let counted = {
        let fanned = Arc::clone(&fanned);
        let (warmup, window) = (s.warmup, s.window);
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            let before = fanned.load(Ordering::Relaxed);
            tokio::time::sleep(window).await;
            fanned.load(Ordering::Relaxed) - before
        })
    };
    let loaded = save_loop(&api, s, &uuids, &sequences, None).await?;
    let [reader_ms, writer_ms] = cpu.per_operation_ms(1)[..] else {
        return Err("the CPU window measured another number of processes".into());
    };
    let delivered = counted.await?;
    let rss_loaded = server::proc_mib(reader.pid(), "VmRSS").unwrap_or(0.0);
    stop(listeners).await?;
    let window = s.window.as_secs_f64();
    report.table(
        &format!(
            "8. The subscribers' process with {SUBSCRIPTIONS} open subscriptions ({} POPs, {} \
             per WebSocket connection)",
            uuids.len(),
            PER_CONNECTION
        ),
        "baseline named in the row",
        &[
            Row {
                what: "RSS with the subscriptions open, vs. before they opened",
                value: rss_open,
                baseline: rss_before,
                unit: "MiB",
                goal: None,
            },
            Row {
                what: "RSS after the writers' run, vs. before the subscriptions opened",
                value: rss_loaded,
                baseline: rss_before,
                unit: "MiB",
                goal: None,
            },
            Row {
                what: "CPU while the writers save (ms per s), vs. the writers' process",
                value: reader_ms / window,
                baseline: writer_ms / window,
                unit: "ms/s",
                goal: None,
            },
        ],
    );
    report.push(&format!(
        "\nMemory per open subscription: {:.1} KiB. CPU with the subscriptions open and nothing \
         written: {:.1} ms per s (keep-alives and the periodic re-checks). While {} writers made \
         {:.0} saves/s through the other process, the subscribers' process delivered {:.0} \
         events/s ({:.1} µs of its CPU per event).",
        (rss_open - rss_before).max(0.0) * 1024.0 / SUBSCRIPTIONS as f64,
        idle_ms_per_s,
        s.clients,
        loaded.rate,
        delivered as f64 / window.max(1e-9),
        reader_ms * 1000.0 / delivered.max(1) as f64,
    ));
    Ok(())
}

/// One POP per writer, created through the API; their ids and autosave sequences.
async fn create_pops(api: &Api, clients: usize) -> Result<Vec<(String, i64)>, BoxError> {
    let mut pops = Vec::with_capacity(clients);
    for client in 0..clients {
        let input = json!({
            "sessionId": format!("live-{client}"),
            "content": data::content(client, DOCUMENT_BYTES, 0, 4),
        });
        let out = api.gql(AUTOSAVE, json!({ "input": input })).await?;
        let uuid = out["autosavePop"]["pop"]["id"]
            .as_str()
            .ok_or_else(|| format!("no POP id in {out}"))?;
        let sequence = out["autosavePop"]["autosaveSequence"]
            .as_i64()
            .ok_or_else(|| format!("no autosaveSequence in {out}"))?;
        pops.push((uuid.to_owned(), sequence));
    }
    Ok(pops)
}

/// Each writer saves its own POP in a closed loop for the warm-up and the window; with
/// `pending`, each save's send time is left there for the subscriber of its POP.
async fn save_loop(
    api: &Api,
    s: &Settings,
    uuids: &Arc<Vec<String>>,
    sequences: &Arc<Vec<AtomicI64>>,
    pending: Option<Pending>,
) -> Result<Measurement, BoxError> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let uuids = Arc::clone(uuids);
    let sequences = Arc::clone(sequences);
    let client = api.clone();
    load::run(s.clients, s.warmup, s.window, move |c, i| {
        let api = client.clone();
        let mut content = data::content(c, DOCUMENT_BYTES, i + 1, 4);
        content["nomeProcesso"] = json!(format!("Conceder pensão civil (execução {run})"));
        let input =
            json!({ "popId": uuids[c], "sessionId": format!("live-{c}"), "content": content });
        let expected = sequences[c].load(Ordering::Relaxed) + 1;
        if let Some(pending) = &pending {
            lock(pending).insert((c, expected), Instant::now());
        }
        let sequences = Arc::clone(&sequences);
        async move {
            let out = api.gql(AUTOSAVE, json!({ "input": input })).await?;
            let got = out["autosavePop"]["autosaveSequence"].as_i64();
            if out["autosavePop"]["changed"] != json!(true) || got != Some(expected) {
                return Err(format!(
                    "expected a write at sequence {expected}, got {out}"
                ));
            }
            sequences[c].store(expected, Ordering::Relaxed);
            Ok(())
        }
    })
    .await
}

/// Waits until every save's event has arrived; an error naming how many did not.
async fn wait_for_events(pending: &Pending) -> Result<(), BoxError> {
    let deadline = Instant::now() + LOST_AFTER;
    loop {
        let left = lock(pending).len();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(
                format!("{left} saves had no popChanged event after {LOST_AFTER:?}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `graphql-transport-ws` connection to `base`, acknowledged.
async fn connect(base: &str, token: &str) -> Result<Socket, BoxError> {
    let mut request =
        format!("{}/graphql", base.replacen("http", "ws", 1)).into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    socket.send(Message::Text(init.to_string().into())).await?;
    match next_text(&mut socket).await? {
        message if message["type"] == "connection_ack" => Ok(socket),
        other => Err(format!("expected connection_ack, got {other}").into()),
    }
}

/// Subscribes to `popChanged` of `pop` as subscription `id`.
async fn subscribe(socket: &mut Socket, id: &str, pop: &str) -> Result<(), BoxError> {
    let message = json!({"id": id, "type": "subscribe", "payload": {
        "query": POP_CHANGED, "variables": {"popId": pop}}});
    socket
        .send(Message::Text(message.to_string().into()))
        .await?;
    Ok(())
}

/// A protocol ping answered by a pong: everything sent before it has been read by the server.
async fn round_trip(socket: &mut Socket) -> Result<(), BoxError> {
    socket
        .send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await?;
    loop {
        let message = next_text(socket).await?;
        match message["type"].as_str() {
            Some("pong") => return Ok(()),
            Some("next") if message["payload"].get("errors").is_none() => {}
            _ => return Err(format!("unexpected message while subscribing: {message}").into()),
        }
    }
}

/// The next text message as JSON (WebSocket pings are answered by tungstenite).
async fn next_text(socket: &mut Socket) -> Result<Value, BoxError> {
    loop {
        let next = tokio::time::timeout(LOST_AFTER, socket.next())
            .await
            .map_err(|_| "the server sent nothing in time")?;
        match next {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("the server closed the connection: {frame:?}").into())
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => return Err("the connection ended".into()),
        }
    }
}

/// Reads events until the task is aborted, calling `on_event` with each one's sequence and
/// `createdAt`; a subscription error, a `RESYNC` event or an event that is not the one after
/// its subscription's previous event is a failure of the run.
async fn listen(
    mut socket: Socket,
    on_event: impl Fn(i64, chrono::DateTime<chrono::Utc>),
) -> Result<(), String> {
    // The last sequence of each subscription of the socket.
    let mut last: HashMap<String, i64> = HashMap::new();
    loop {
        let message = match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())?
            }
            Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.to_string()),
            None => return Err("the connection ended".into()),
        };
        if message["type"] == "pong" {
            continue;
        }
        let event = &message["payload"]["data"]["popChanged"];
        let written = event["createdAt"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        match (
            message["type"].as_str(),
            event["kind"].as_str(),
            event["sequence"].as_i64(),
            written,
        ) {
            (Some("next"), Some("CHANGE"), Some(sequence), Some(at)) => {
                let id = message["id"].as_str().unwrap_or_default().to_owned();
                if let Some(previous) = last.insert(id, sequence) {
                    if sequence != previous + 1 {
                        return Err(format!("event {sequence} came after {previous}"));
                    }
                }
                on_event(sequence, at.with_timezone(&chrono::Utc))
            }
            _ => return Err(format!("unexpected message: {message}")),
        }
    }
}

/// Stops the listeners; the first failure of one that ended by itself.
async fn stop(listeners: Vec<tokio::task::JoinHandle<Result<(), String>>>) -> Result<(), BoxError> {
    let mut failure = None;
    for listener in listeners {
        if listener.is_finished() {
            if let Err(err) = listener.await? {
                failure.get_or_insert(err);
            }
        } else {
            listener.abort();
        }
    }
    match failure {
        Some(err) => Err(format!("a subscriber failed: {err}").into()),
        None => Ok(()),
    }
}

/// Locks a mutex, taking it over from a writer that panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
