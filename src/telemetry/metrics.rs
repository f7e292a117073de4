//! The Prometheus metrics served at `/metrics` (text format), with `prometheus-client`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mapagov_http_requests_total` | counter | `method`, `route` (the matched route template, `unmatched` for 404s), `status` |
//! | `mapagov_graphql_operations_total` | counter | `operation` |
//! | `mapagov_graphql_operation_duration_seconds` | histogram | `operation` |
//! | `mapagov_graphql_errors_total` | counter | `operation`, `code` (`extensions.code`) |
//! | `mapagov_db_pool_max_connections` | gauge | |
//! | `mapagov_db_pool_connections` | gauge | `state` (`idle`, `in_use`) |
//! | `mapagov_db_pool_waits_total` | counter | (check-outs that had to wait) |
//! | `mapagov_db_pool_timeouts_total` | counter | (check-outs that gave up: `SERVICE_UNAVAILABLE`) |
//! | `mapagov_pg_connections` | gauge | `state` (from `pg_stat_activity`, PostgreSQL only) |
//! | `mapagov_subscriptions_open` | gauge | (GraphQL subscriptions open now) |
//! | `mapagov_subscription_events_total` | counter | (events sent to subscribers) |
//! | `mapagov_live_listener_up` | gauge | 1 while the `LISTEN` connection is open (PostgreSQL only) |
//! | `mapagov_live_listener_reconnects_total` | counter | (the `LISTEN` connection reopened, PostgreSQL only) |
//! | `mapagov_mail_notices_total` | counter | `outcome`: `sent`, `failed` (after every retry), `dropped` (queue full), `no_address` (the author has no e-mail address) |
//! | `mapagov_db_replica_reads_total` | counter | `served_by`: `replica`, `primary` (reads of GraphQL queries, with `DATABASE_REPLICA_URL` only) |
//! | `mapagov_db_replica_lag_seconds` | gauge | (seconds since the replica was last seen to have replayed all the primary had written; absent while it never was or is unreachable) |
//! | `mapagov_db_replica_usable` | gauge | 1 while the lag guard lets queries read from the replica |
//! | `mapagov_pg_stat_activity_up` | gauge | 1 if `pg_stat_activity` answered within [`PG_STAT_TIMEOUT`] (PostgreSQL only) |
//!
//! `operation` is bounded by [`super::operation::OperationLabels`].

use super::operation::OperationLabels;
use crate::db::{Backend, Conn, Db};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// How long a scrape waits for `pg_stat_activity` before reporting it down.
pub const PG_STAT_TIMEOUT: Duration = Duration::from_secs(1);

/// Labels of `mapagov_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// Labels of the per-operation metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

/// Labels of `mapagov_graphql_errors_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    operation: String,
    code: String,
}

/// Labels of `mapagov_mail_notices_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Labels of the connection-state gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// Every metric of the process, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    operations: Family<OperationLabel, Counter>,
    durations: Family<OperationLabel, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    pg_connections: Family<StateLabel, Gauge>,
    pg_up: Gauge,
    notices: Family<OutcomeLabel, Counter>,
    /// Bounds the `operation` label.
    pub labels: OperationLabels,
    db: Db,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn duration_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    /// Registers every metric; pool figures are read from `db` at each scrape.
    pub fn new(db: Db) -> Metrics {
        let mut registry = Registry::with_prefix("mapagov");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, matched route template and status",
            http_requests.clone(),
        );
        let operations = Family::<OperationLabel, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations executed, by operation name",
            operations.clone(),
        );
        let durations = Family::<OperationLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "graphql_operation_duration_seconds",
            "Time to parse, validate and execute a GraphQL operation",
            durations.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "graphql_errors",
            "GraphQL errors by operation name and extensions.code",
            errors.clone(),
        );
        let notices = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "mail_notices",
            "E-mail notices to POP authors, by outcome",
            notices.clone(),
        );
        registry.register_collector(Box::new(PoolCollector(db.clone())));
        if let Some(replica) = db.replica() {
            registry.register_collector(Box::new(ReplicaCollector(std::sync::Arc::clone(replica))));
        }
        let pg_connections = Family::<StateLabel, Gauge>::default();
        let pg_up = Gauge::default();
        if db.backend() == Backend::Postgres {
            registry.register(
                "pg_connections",
                "This server's connections as pg_stat_activity sees them (application_name = 'mapagov'), by state",
                pg_connections.clone(),
            );
            registry.register(
                "pg_stat_activity_up",
                "1 if pg_stat_activity answered at the last scrape, else 0",
                pg_up.clone(),
            );
        }
        Metrics {
            registry,
            http_requests,
            operations,
            durations,
            errors,
            pg_connections,
            pg_up,
            notices,
            labels: OperationLabels::default(),
            db,
        }
    }

    /// Adds the subscription metrics: open subscriptions, events sent and, on PostgreSQL, the
    /// database listener's state.
    pub fn with_live(mut self, stats: &crate::live::limits::Stats) -> Metrics {
        self.registry.register(
            "subscriptions_open",
            "GraphQL subscriptions open now",
            stats.open.clone(),
        );
        self.registry.register(
            "subscription_events",
            "Events sent to subscribers (changes and resyncs)",
            stats.events.clone(),
        );
        if self.db.backend() == Backend::Postgres {
            self.registry.register(
                "live_listener_up",
                "1 while the LISTEN connection to PostgreSQL is open, else 0",
                stats.listener_up.clone(),
            );
            self.registry.register(
                "live_listener_reconnects",
                "Times the LISTEN connection to PostgreSQL was opened again after it broke",
                stats.listener_reconnects.clone(),
            );
        }
        self
    }

    /// Counts one HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts one e-mail notice by outcome (`sent`, `failed`, `dropped`, `no_address`).
    pub fn notice(&self, outcome: &'static str) {
        self.notices.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Counts one GraphQL operation (already labelled), its duration and its errors' codes.
    pub fn operation<'c>(
        &self,
        label: &str,
        elapsed: Duration,
        codes: impl IntoIterator<Item = &'c str>,
    ) {
        let key = OperationLabel {
            operation: label.to_owned(),
        };
        self.operations.get_or_create(&key).inc();
        self.durations
            .get_or_create(&key)
            .observe(elapsed.as_secs_f64());
        for code in codes {
            self.errors
                .get_or_create(&ErrorLabels {
                    operation: label.to_owned(),
                    code: code.to_owned(),
                })
                .inc();
        }
    }

    /// Reads what is read at scrape time and renders everything in the Prometheus text format.
    pub async fn render(&self) -> Result<String, std::fmt::Error> {
        if self.db.backend() == Backend::Postgres {
            self.pg_connections.clear();
            match tokio::time::timeout(PG_STAT_TIMEOUT, pg_activity(&self.db)).await {
                Ok(Ok(rows)) => {
                    for row in rows {
                        self.pg_connections
                            .get_or_create(&StateLabel { state: row.state })
                            .set(row.count);
                    }
                    self.pg_up.set(1);
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err.message(), "metrics: pg_stat_activity failed");
                    self.pg_up.set(0);
                }
                Err(_) => {
                    tracing::warn!("metrics: pg_stat_activity did not answer in time");
                    self.pg_up.set(0);
                }
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// One row of the `pg_stat_activity` summary.
#[derive(QueryableByName)]
struct ActivityRow {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// This server's connections (`application_name = 'mapagov'`) to the current database, by state.
async fn pg_activity(db: &Db) -> Result<Vec<ActivityRow>, crate::error::AppError> {
    let mut pooled = db.get().await?;
    let rows = match pooled.conn() {
        Conn::Pg(mut conn) => {
            diesel::sql_query(
                "SELECT coalesce(state, 'unknown') AS state, count(*) AS count \
                 FROM pg_stat_activity \
                 WHERE application_name = 'mapagov' AND datname = current_database() \
                 GROUP BY 1",
            )
            .load::<ActivityRow>(&mut conn)
            .await?
        }
        Conn::Sqlite(_) => Vec::new(),
    };
    Ok(rows)
}

/// Labels of `mapagov_db_replica_reads_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedByLabel {
    served_by: &'static str,
}

/// Reads the read replica's use and lag at each scrape.
struct ReplicaCollector(std::sync::Arc<crate::db::replica::Replica>);

impl std::fmt::Debug for ReplicaCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplicaCollector")
    }
}

impl Collector for ReplicaCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let mut reads = encoder.encode_descriptor(
            "db_replica_reads",
            "Reads of GraphQL queries, by the database that served them",
            None,
            MetricType::Counter,
        )?;
        for (served_by, count) in [
            ("replica", stats.replica_reads),
            ("primary", stats.primary_reads),
        ] {
            ConstCounter::new(count).encode(reads.encode_family(&ServedByLabel { served_by })?)?;
        }
        if let Some(lag) = stats.lag {
            let gauge = encoder.encode_descriptor(
                "db_replica_lag_seconds",
                "Seconds since the replica was last seen to have replayed everything the primary had written",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(lag.as_secs_f64()).encode(gauge)?;
        }
        let usable = encoder.encode_descriptor(
            "db_replica_usable",
            "1 while queries may read from the replica (caught up within REPLICA_READ_YOUR_WRITES), else 0",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(stats.usable)).encode(usable)?;
        Ok(())
    }
}

/// Reads the pool's state and statistics at each scrape.
struct PoolCollector(Db);

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.0.pool_state();
        let max = encoder.encode_descriptor(
            "db_pool_max_connections",
            "Largest number of connections the pool may open (DB_POOL_SIZE)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(state.max_size)).encode(max)?;
        let mut family = encoder.encode_descriptor(
            "db_pool_connections",
            "Open pooled connections by state",
            None,
            MetricType::Gauge,
        )?;
        let in_use = state.connections.saturating_sub(state.idle);
        for (label, value) in [("idle", state.idle), ("in_use", in_use)] {
            let labels = StateLabel {
                state: label.to_owned(),
            };
            ConstGauge::new(i64::from(value)).encode(family.encode_family(&labels)?)?;
        }
        let waits = encoder.encode_descriptor(
            "db_pool_waits",
            "Connection check-outs that had to wait for a free connection",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(state.waited).encode(waits)?;
        let timeouts = encoder.encode_descriptor(
            "db_pool_timeouts",
            "Connection check-outs that gave up after DB_POOL_TIMEOUT",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(state.timed_out).encode(timeouts)?;
        Ok(())
    }
}
