//! Autosave load for fault tests: writers that each save their own POP in a loop and remember
//! what the server acknowledged, and the check that every acknowledged write is in the database.

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use mapagov::db::Conn;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SAVE: &str = "mutation($s: String!, $c: String) { autosavePop(input: {sessionId: $s, \
    content: {nomeProcesso: $c}}) { autosaveSequence pop { id } } }";

/// What one writer saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Its session id.
    pub session: String,
    /// Its POP, once a save was acknowledged.
    pub pop_id: Option<String>,
    /// The last sequence acknowledged.
    pub last_sequence: i64,
    /// Saves acknowledged.
    pub acked: usize,
    /// Requests that got no response (connection refused or closed).
    pub unanswered: usize,
    /// Responses cut short (not complete JSON).
    pub incomplete: usize,
    /// Error responses by `extensions.code`.
    pub codes: BTreeMap<String, usize>,
}

/// Writers saving in a loop until stopped.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    base: Arc<Mutex<String>>,
    handles: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Writers {
    /// Starts `n` writers against `base` (`http://host:port`) with `token`.
    pub fn start(base: &str, token: &str, n: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let base = Arc::new(Mutex::new(base.to_owned()));
        let handles = (0..n)
            .map(|w| {
                let (stop, acked, base) = (Arc::clone(&stop), Arc::clone(&acked), Arc::clone(&base));
                let token = token.to_owned();
                tokio::spawn(async move {
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap();
                    let mut tally = Tally {
                        session: format!("writer-{w}"),
                        ..Tally::default()
                    };
                    let mut n = 0;
                    while !AtomicBool::load(&stop, Ordering::SeqCst) {
                        n += 1;
                        let url = format!("{}/graphql", base.lock().unwrap());
                        let sent = http
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({"query": SAVE, "variables": {"s": tally.session, "c": format!("w{w}-{n}")}}))
                            .send()
                            .await;
                        let Ok(resp) = sent else {
                            tally.unanswered += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        let Ok(body) = resp.json::<Value>().await else {
                            tally.incomplete += 1;
                            continue;
                        };
                        if let Some(errors) = body.get("errors") {
                            let code = errors[0]["extensions"]["code"]
                                .as_str()
                                .unwrap_or("NONE")
                                .to_owned();
                            *tally.codes.entry(code).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        let saved = &body["data"]["autosavePop"];
                        let sequence = saved["autosaveSequence"].as_i64().unwrap();
                        // A save whose answer was lost may have been applied: a gap is fine,
                        // going back is not.
                        assert!(
                            sequence > tally.last_sequence,
                            "{}: {sequence} after {}",
                            tally.session,
                            tally.last_sequence
                        );
                        tally.last_sequence = sequence;
                        tally.pop_id = saved["pop"]["id"].as_str().map(str::to_owned);
                        tally.acked += 1;
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    tally
                })
            })
            .collect();
        Writers {
            stop,
            acked,
            base,
            handles,
        }
    }

    /// Saves acknowledged so far, by all writers.
    pub fn acked(&self) -> usize {
        AtomicUsize::load(&self.acked, Ordering::SeqCst)
    }

    /// Points the writers at another server (a restarted one on another port).
    pub fn retarget(&self, base: &str) {
        *self.base.lock().unwrap() = base.to_owned();
    }

    /// Waits until `more` saves were acknowledged after now (panics after `within`).
    pub async fn wait_for(&self, more: usize, within: Duration) {
        let target = self.acked() + more;
        let deadline = std::time::Instant::now() + within;
        while self.acked() < target {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {target} saves acknowledged",
                self.acked()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the writers and returns what each saw.
    pub async fn stop(self) -> Vec<Tally> {
        self.stop.store(true, Ordering::SeqCst);
        let mut tallies = Vec::new();
        for handle in self.handles {
            tallies.push(
                tokio::time::timeout(Duration::from_secs(90), handle)
                    .await
                    .expect("a writer did not stop")
                    .expect("a writer failed"),
            );
        }
        tallies
    }
}

/// Sums of the tallies: (acknowledged, error codes).
pub fn summary(tallies: &[Tally]) -> (usize, BTreeMap<String, usize>) {
    let mut codes = BTreeMap::new();
    for t in tallies {
        for (code, n) in &t.codes {
            *codes.entry(code.clone()).or_default() += n;
        }
    }
    (tallies.iter().map(|t| t.acked).sum(), codes)
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    sequence: i64,
    #[diesel(sql_type = BigInt)]
    logged_max: i64,
    #[diesel(sql_type = BigInt)]
    logged_distinct: i64,
}

/// Every acknowledged save is in the database: each POP's sequence is at least the last one
/// acknowledged, and its change log has one entry per sequence. Returns the number of saves
/// found (the sum of the stored sequences).
pub async fn assert_none_lost(database_url: &str, tallies: &[Tally]) -> i64 {
    stored_sequences(database_url, tallies).await.iter().sum()
}

/// [`assert_none_lost`]'s checks, returning each writer's stored sequence (0 for a writer that
/// had no save acknowledged), in the order of `tallies`.
pub async fn stored_sequences(database_url: &str, tallies: &[Tally]) -> Vec<i64> {
    let db = mapagov::db::Db::connect(&super::database_config(database_url, &[]))
        .await
        .unwrap();
    let mut pooled = db.get().await.unwrap();
    let mut stored = Vec::with_capacity(tallies.len());
    for t in tallies {
        let Some(pop_id) = &t.pop_id else {
            stored.push(0);
            continue;
        };
        // A parsed UUID is safe to put in the statement (placeholders differ by backend).
        let uuid = uuid::Uuid::parse_str(pop_id).unwrap();
        let query = diesel::sql_query(format!(
            "SELECT CAST(p.autosave_sequence AS BIGINT) AS sequence, \
             CAST((SELECT max(c.autosave_sequence) FROM pop_change_log c WHERE c.pop_id = p.id) AS BIGINT) AS logged_max, \
             CAST((SELECT count(DISTINCT c.autosave_sequence) FROM pop_change_log c WHERE c.pop_id = p.id) AS BIGINT) AS logged_distinct \
             FROM pops p WHERE CAST(p.uuid AS TEXT) = '{uuid}'"
        ));
        let row: Row = match pooled.conn() {
            Conn::Pg(mut c) => query.get_result(&mut c).await.unwrap(),
            Conn::Sqlite(c) => query.get_result(c).await.unwrap(),
        };
        assert!(
            row.sequence >= t.last_sequence,
            "{}: stored {} < acknowledged {}",
            t.session,
            row.sequence,
            t.last_sequence
        );
        assert_eq!(
            row.logged_max, row.sequence,
            "{}: change log ends at the sequence",
            t.session
        );
        assert_eq!(
            row.logged_distinct, row.sequence,
            "{}: every autosave logged",
            t.session
        );
        stored.push(row.sequence);
    }
    stored
}
