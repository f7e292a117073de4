//! The read replica (`DATABASE_REPLICA_URL`): which reads it serves, and the rule that keeps a
//! user reading their own writes across every server process.
//!
//! **What reads from it.** Only [`super::Db::read`] inside [`reading_as`], which the GraphQL
//! layer wraps around the execution of a query operation (`graphql::reads`). Mutations, writes
//! ([`super::Db::write`]), token authentication (it writes `last_used_at`), subscriptions (their
//! replay must not go back in time), the PDF route, the operator commands and the batched
//! DataLoaders (they run on tasks of their own, outside the scope) read from the primary.
//!
//! **The rule.** With `W` = `REPLICA_READ_YOUR_WRITES` seconds, a query reads from the replica
//! only if all of these hold, and from the primary otherwise:
//!
//! 1. the lag guard saw the replica, within the last `W`, holding everything the primary had
//!    written when one of its checks began ([`Replica::poll`], every [`POLL_EVERY`]; each check's
//!    position is kept until the replica replays past it): so whatever committed more than `W`
//!    ago is on the replica;
//! 2. for a signed-in reader: no mutation of theirs ended within the last `W`, as far as this
//!    process knows. The process that ran the mutation records it at once; it also sends
//!    `NOTIFY mapagov_writes, '<user id>'` on the primary before answering, which every process's
//!    listener ([`crate::live::listener`]) records;
//! 3. for a signed-in reader: this process's listener is connected and confirmed its connection
//!    within [`crate::auth::cache::FRESH_FOR`] (otherwise other processes' writes may go unheard),
//!    and the replica holds everything committed before the listener last began listening (the
//!    notices of writes before then may have been lost);
//! 4. if the request carries a [`Position`] (`MapaGov-Read-After`, echoed from the
//!    `MapaGov-Write-Position` of an earlier mutation's answer): the lag guard's last check saw
//!    the replica replayed at least that far;
//! 5. a connection of the replica pool is free within [`CHECKOUT_WAIT`]; otherwise (the replica
//!    is down, or its pool is busy) the read takes a primary connection, and the replica is not
//!    used again until the lag guard has seen it caught up.
//!
//! Together: a user's query sees every write their own mutations made, through any process,
//! provided the `NOTIFY` of a mutation reached the reading process before the query did (see the
//! README for that gap) or the client echoed the mutation's position; anyone's query sees every
//! write committed more than `W` ago.
//!
//! A replica fault never fails a read the primary could answer at check-out; a replica
//! connection that breaks in the middle of a query fails that query with the retryable
//! `SERVICE_UNAVAILABLE` code, as a primary connection would, and the lag guard takes the replica
//! out of use at its next check.

use super::pool::AgedManager;
use super::{Db, PgPool};
use diesel::sql_types::{Nullable, Text};
use diesel::QueryableByName;
use diesel_async::AsyncPgConnection;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The PostgreSQL notification channel of "user N wrote"; the payload is the user id.
pub const CHANNEL: &str = "mapagov_writes";

/// How often the lag guard compares the replica with the primary.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// How long one comparison, or one announcement of a write, may take.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// The response header of a signed-in user's mutation: the primary's WAL position after it.
pub const WRITE_POSITION: &str = "mapagov-write-position";

/// The request header a client echoes [`WRITE_POSITION`] in: its queries then read a replica
/// only once it has replayed that far.
pub const READ_AFTER: &str = "mapagov-read-after";

/// The longest a read waits for a replica connection before it takes a primary one.
pub const CHECKOUT_WAIT: Duration = Duration::from_secs(1);

/// Users whose last write is remembered before the forgotten ones (older than the window) are
/// swept.
const SWEEP_AT: usize = 10_000;

tokio::task_local! {
    /// Who the reads of the running query are for; unset outside a query.
    static READER: Reader;
}

/// The reader of a query: a signed-in user, or anonymous (a public catalogue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    /// The signed-in user, if any.
    pub user: Option<i64>,
    /// The position the client asked to read at least (`MapaGov-Read-After`), if any.
    pub after: Option<Position>,
}

/// Runs `query` with its reads allowed on the replica, on behalf of `reader`.
pub async fn reading_as<F: Future>(reader: Reader, query: F) -> F::Output {
    READER.scope(reader, query).await
}

/// A position in the primary's write-ahead log (PostgreSQL's `pg_lsn`, written `X/Y` in hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(u64);

impl std::str::FromStr for Position {
    type Err = ();

    fn from_str(raw: &str) -> Result<Position, ()> {
        let (high, low) = raw.trim().split_once('/').ok_or(())?;
        let part = |hex: &str| {
            if hex.is_empty() || hex.len() > 8 {
                return Err(());
            }
            u32::from_str_radix(hex, 16).map_err(|_| ())
        };
        Ok(Position(
            (u64::from(part(high)?) << 32) | u64::from(part(low)?),
        ))
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// The reader of the running query, if a query is running in this task.
pub(super) fn current_reader() -> Option<Reader> {
    READER.try_with(|reader| *reader).ok()
}

/// Where a read goes, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The replica may serve it.
    Replica,
    /// The replica has not been seen caught up within the window (lagging or unreachable).
    PrimaryLagging,
    /// The reader wrote within the window.
    PrimaryOwnWrite,
    /// The replica was not seen replayed as far as the reader asked.
    PrimaryBehindReader,
    /// This process may be missing other processes' writes (listener down).
    PrimaryDeaf,
}

/// The replica's pool, the recent writers and the lag guard's last finding.
pub struct Replica {
    pool: PgPool,
    window: Duration,
    state: Mutex<State>,
    replica_reads: AtomicU64,
    primary_reads: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// When each user's last mutation ended, as heard by this process.
    writes: HashMap<i64, Instant>,
    /// The listener is connected, and when it last confirmed it.
    listening: bool,
    confirmed_at: Option<Instant>,
    /// When the listener last began listening: notices sent before then may have been lost.
    listening_since: Option<Instant>,
    /// A time before which everything the primary committed is on the replica: the start of
    /// the latest check whose primary position the replica has since replayed.
    fresh_as_of: Option<Instant>,
    /// The primary positions of recent checks, oldest first, with when each check began,
    /// until the replica replays past them (or they leave the window).
    pending: VecDeque<(Position, Instant)>,
    /// How far the replica had replayed at the last check (`None`: it did not answer).
    replayed: Option<Position>,
}

impl State {
    /// A check that began at `began` read the primary at `position` and the replica replayed
    /// to `replayed` (`None`: it did not answer, or is not in recovery).
    fn checked(
        &mut self,
        position: Position,
        began: Instant,
        replayed: Option<Position>,
        window: Duration,
    ) {
        let Some(replayed) = replayed else {
            self.fresh_as_of = None;
            self.replayed = None;
            self.pending.clear();
            return;
        };
        self.pending.push_back((position, began));
        self.pending.retain(|(_, at)| at.elapsed() < window);
        while let Some(&(position, at)) = self.pending.front() {
            if position > replayed {
                break;
            }
            self.fresh_as_of = self.fresh_as_of.max(Some(at));
            self.pending.pop_front();
        }
        self.replayed = Some(replayed);
    }
}

/// A snapshot of the replica's use, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaStats {
    /// Query reads served by the replica.
    pub replica_reads: u64,
    /// Query reads the rule sent to the primary.
    pub primary_reads: u64,
    /// Time since the replica was last seen caught up (`None`: not yet, or unreachable since).
    pub lag: Option<Duration>,
    /// Whether the lag guard currently lets reads go to the replica.
    pub usable: bool,
}

impl Replica {
    /// A replica reached through `pool`, used under the rule with window `window`.
    pub(super) fn new(pool: PgPool, window: Duration) -> Replica {
        Replica {
            pool,
            window,
            state: Mutex::default(),
            replica_reads: AtomicU64::new(0),
            primary_reads: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `user` wrote just now.
    pub fn wrote(&self, user: i64) {
        let now = Instant::now();
        let mut state = self.state();
        if state.writes.len() >= SWEEP_AT {
            let window = self.window;
            state
                .writes
                .retain(|_, at| now.duration_since(*at) < window);
        }
        state.writes.insert(user, now);
    }

    /// The listener connected (`true`) or lost its connection (`false`).
    pub fn listening(&self, on: bool) {
        let mut state = self.state();
        state.listening = on;
        state.confirmed_at = on.then(Instant::now);
        if on {
            state.listening_since = Some(Instant::now());
        }
    }

    /// The listener's connection answered just now.
    pub fn confirmed(&self) {
        let mut state = self.state();
        if state.listening {
            state.confirmed_at = Some(Instant::now());
        }
    }

    /// Where a read of `reader` goes now (the rule of the module docs, but for the check-out).
    pub fn route(&self, reader: Reader) -> Route {
        let state = self.state();
        let within =
            |at: Option<Instant>, limit: Duration| at.is_some_and(|at| at.elapsed() < limit);
        if !within(state.fresh_as_of, self.window) {
            return Route::PrimaryLagging;
        }
        if reader.after.is_some() && state.replayed < reader.after {
            return Route::PrimaryBehindReader;
        }
        let Some(user) = reader.user else {
            return Route::Replica;
        };
        if !(state.listening && within(state.confirmed_at, crate::auth::cache::FRESH_FOR)) {
            return Route::PrimaryDeaf;
        }
        // Notices of writes sent before the listener (re)connected may be lost: the replica
        // serves a signed-in reader only once it holds everything committed before then.
        if state.fresh_as_of < state.listening_since {
            return Route::PrimaryDeaf;
        }
        if within(state.writes.get(&user).copied(), self.window) {
            return Route::PrimaryOwnWrite;
        }
        Route::Replica
    }

    /// A replica connection within [`CHECKOUT_WAIT`], or `None` (and the replica is out of use
    /// until the lag guard sees it caught up again).
    pub(super) async fn checkout(
        &self,
    ) -> Option<bb8::PooledConnection<'_, AgedManager<AsyncPgConnection>>> {
        match tokio::time::timeout(CHECKOUT_WAIT, self.pool.get()).await {
            Ok(Ok(conn)) => Some(conn),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "no connection to the read replica; reading from the primary");
                self.state().fresh_as_of = None;
                None
            }
            Err(_) => {
                tracing::warn!("no free read-replica connection in time; reading from the primary");
                self.state().fresh_as_of = None;
                None
            }
        }
    }

    /// Counts one query read, by where it was served.
    pub(super) fn served(&self, by_replica: bool) {
        let counter = if by_replica {
            &self.replica_reads
        } else {
            &self.primary_reads
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures `/metrics` shows.
    pub fn stats(&self) -> ReplicaStats {
        let lag = self.state().fresh_as_of.map(|at| at.elapsed());
        ReplicaStats {
            replica_reads: self.replica_reads.load(Ordering::Relaxed),
            primary_reads: self.primary_reads.load(Ordering::Relaxed),
            lag,
            usable: lag.is_some_and(|lag| lag < self.window),
        }
    }

    /// One check of the lag guard: reads the primary's WAL insert position, then how far the
    /// replica has replayed. Each check's position is kept with the time the check began; once
    /// the replica has replayed past a position, everything committed before that time is on
    /// the replica ([`State::fresh_as_of`]), so a replica that keeps up under steady writes is
    /// seen fresh as of a few checks ago, not never. A replica that does not answer, or is not
    /// in recovery (no replay position: promoted, or the wrong server), is out of use until a
    /// check finds it caught up again; a primary that does not answer changes nothing.
    async fn poll(&self, primary: &Db) {
        let began = Instant::now();
        let position = tokio::time::timeout(POLL_TIMEOUT, primary_position(primary)).await;
        let Ok(Ok(position)) = position else {
            return;
        };
        let replayed = tokio::time::timeout(POLL_TIMEOUT, self.replayed()).await;
        let replayed = match replayed {
            Ok(Ok(replayed)) => replayed,
            Ok(Err(())) | Err(_) => None,
        };
        self.state().checked(position, began, replayed, self.window);
    }

    /// How far the replica has replayed the primary's WAL (`None`: it is not in recovery).
    async fn replayed(&self) -> Result<Option<Position>, ()> {
        use diesel_async::RunQueryDsl;
        #[derive(QueryableByName)]
        struct Replayed {
            #[diesel(sql_type = Nullable<Text>)]
            replayed: Option<String>,
        }
        let mut conn = self.pool.get().await.map_err(|_| ())?;
        let row: Replayed = diesel::sql_query("SELECT pg_last_wal_replay_lsn()::text AS replayed")
            .get_result(&mut **conn)
            .await
            .map_err(|_| ())?;
        row.replayed.map(|raw| raw.parse()).transpose()
    }
}

/// The primary's current WAL insert position: every commit so far is before it.
async fn primary_position(primary: &Db) -> Result<Position, ()> {
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Position {
        #[diesel(sql_type = Text)]
        position: String,
    }
    let mut pooled = primary.get().await.map_err(|_| ())?;
    let super::Conn::Pg(mut conn) = pooled.conn() else {
        return Err(());
    };
    let row: Position = diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS position")
        .get_result(&mut conn)
        .await
        .map_err(|_| ())?;
    row.position.parse()
}

/// Starts the lag guard of `db`'s replica, if it has one, for as long as the process runs.
pub fn spawn_lag_guard(db: Db) {
    let Some(replica) = db.replica().cloned() else {
        return;
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(POLL_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            replica.poll(&db).await;
        }
    });
}

/// A mutation of a signed-in user in progress: recorded as a write when it ends, and announced
/// to every process ([`Db::announce_write`]). If the mutation is dropped half-way (a timeout, the
/// client gone), the announcement is still sent, from a task of its own: what it wrote may
/// commit.
pub struct WriteMark {
    db: Db,
    user: i64,
    armed: bool,
}

impl WriteMark {
    /// A mark for `user`'s mutation on `db`, which has a replica.
    pub(super) fn new(db: Db, user: i64) -> WriteMark {
        WriteMark {
            db,
            user,
            armed: true,
        }
    }

    /// The mutation ended: record and announce its write before its answer is sent; returns
    /// the primary's position after it, for [`WRITE_POSITION`] (`None` if the primary did not
    /// answer).
    pub async fn done(mut self) -> Option<Position> {
        self.armed = false;
        self.db.announce_write(self.user).await
    }
}

impl Drop for WriteMark {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (db, user) = (self.db.clone(), self.user);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                db.announce_write(user).await;
            });
        }
    }
}

/// Reads a `mapagov_writes` payload back (a user id); `None` if it is not one.
pub fn parse_payload(raw: &str) -> Option<i64> {
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(window: Duration) -> Replica {
        let manager = diesel_async::pooled_connection::AsyncDieselConnectionManager::new(
            "postgres://nobody@127.0.0.1:1/none",
        );
        let pool = bb8::Pool::builder().build_unchecked(AgedManager::new(
            manager,
            super::super::pool::MaxAge::Unlimited,
            Duration::ZERO,
        ));
        Replica::new(pool, window)
    }

    #[tokio::test]
    async fn the_rule_sends_own_writes_lag_and_deafness_to_the_primary() {
        let r = replica(Duration::from_millis(200));
        let reader = |user| Reader { user, after: None };
        let (ana, bia, anonymous) = (reader(Some(1)), reader(Some(2)), reader(None));
        assert_eq!(r.route(anonymous), Route::PrimaryLagging, "never seen");
        r.state().fresh_as_of = Some(Instant::now());
        assert_eq!(r.route(anonymous), Route::Replica);
        assert_eq!(r.route(ana), Route::PrimaryDeaf, "the listener is down");
        r.listening(true);
        assert_eq!(
            r.route(ana),
            Route::PrimaryDeaf,
            "notices sent before the listener connected may be lost"
        );
        assert_eq!(r.route(anonymous), Route::Replica);
        r.state().fresh_as_of = Some(Instant::now());
        assert_eq!(r.route(ana), Route::Replica);
        r.wrote(1);
        assert_eq!(r.route(ana), Route::PrimaryOwnWrite);
        assert_eq!(r.route(bia), Route::Replica, "only the writer");
        std::thread::sleep(Duration::from_millis(250));
        r.state().fresh_as_of = Some(Instant::now());
        r.confirmed();
        assert_eq!(r.route(ana), Route::Replica, "the window passed");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(
            r.route(bia),
            Route::PrimaryLagging,
            "not seen caught up lately"
        );
        assert!(!r.stats().usable);
    }

    #[test]
    fn a_replica_one_check_behind_under_steady_writes_stays_fresh() {
        let window = Duration::from_secs(60);
        let mut state = State::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let position = |n: u64| Position(n * 100);
        // The primary moves on at every check; the replica has replayed the previous one.
        state.checked(position(1), at(500), Some(position(0)), window);
        assert_eq!(state.fresh_as_of, None, "nothing replayed yet");
        for check in 2..10 {
            state.checked(
                position(check),
                at(check * 500),
                Some(position(check - 1)),
                window,
            );
            assert_eq!(
                state.fresh_as_of,
                Some(at((check - 1) * 500)),
                "check {check}"
            );
        }
        assert_eq!(
            state.pending.len(),
            1,
            "only the newest position is still ahead"
        );
        // A replica that stops answering, or is promoted, is out of use at once.
        state.checked(position(10), at(5_000), None, window);
        assert_eq!((state.fresh_as_of, state.replayed), (None, None));
    }

    #[tokio::test]
    async fn a_reader_ahead_of_the_replica_reads_the_primary() {
        let r = replica(Duration::from_secs(60));
        r.state().fresh_as_of = Some(Instant::now());
        r.state().replayed = "0/16B3748".parse().ok();
        let after = |raw: &str| Reader {
            user: None,
            after: raw.parse().ok(),
        };
        assert_eq!(r.route(after("0/16B3748")), Route::Replica);
        assert_eq!(r.route(after("0/16B3700")), Route::Replica);
        assert_eq!(r.route(after("0/16B3749")), Route::PrimaryBehindReader);
        assert_eq!(r.route(after("1/0")), Route::PrimaryBehindReader);
        r.state().replayed = None;
        assert_eq!(r.route(after("0/1")), Route::PrimaryBehindReader);
    }

    #[test]
    fn positions_read_and_print_as_postgresql_writes_them() {
        let position: Position = "1A/2B3C4D".parse().unwrap();
        assert_eq!(position.to_string(), "1A/2B3C4D");
        assert!(position > "19/FFFFFFFF".parse().unwrap());
        for bad in ["", "1A", "x/1", "1/", "123456789/0", "1/-2"] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }

    #[test]
    fn payloads_are_user_ids() {
        assert_eq!(parse_payload("42"), Some(42));
        assert_eq!(parse_payload("42:1"), None);
    }
}
