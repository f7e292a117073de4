//! `mapagov cleanup`: the retention policy of the old system (see [`crate::ops::retention`]),
//! in one transaction, or as a dry run that only reads.

use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;
use crate::ops::parse_instant;
use crate::ops::retention::{self, Plan, Policy};
use crate::transfer::report::render_table;
use crate::transfer::snapshot_read::read_consistent;
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use scoped_futures::ScopedFutureExt;

/// Arguments of `mapagov cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Soft-delete drafts with no activity for more than this many days.
    #[arg(long, value_name = "DAYS", default_value_t = retention::DEFAULT_DRAFT_IDLE_DAYS)]
    pub draft_idle_days: u32,
    /// Keep the newest this many snapshots of every POP (the newest one is always kept).
    #[arg(long, value_name = "N", default_value_t = retention::DEFAULT_KEEP_SNAPSHOTS)]
    pub keep_snapshots: u32,
    /// Keep every snapshot younger than this many days.
    #[arg(long, value_name = "DAYS", default_value_t = retention::DEFAULT_KEEP_DAYS)]
    pub keep_days: u32,
    /// Delete autosave idempotency records older than this many hours (a retry after that is a
    /// new request).
    #[arg(long, value_name = "HOURS", default_value_t = retention::DEFAULT_IDEMPOTENCY_HOURS)]
    pub idempotency_hours: u32,
    /// Thin snapshots by age tiers instead of `--keep-snapshots`/`--keep-days`: all of the last
    /// `--thin-keep-all-days`, then one per day up to `--thin-daily-days`, then one per week
    /// (milestones, publications, backups and each POP's newest are always kept).
    #[arg(long)]
    pub thin: bool,
    /// With `--thin`: keep every snapshot younger than this many days.
    #[arg(long, value_name = "DAYS", default_value_t = retention::DEFAULT_THIN_KEEP_ALL_DAYS)]
    pub thin_keep_all_days: u32,
    /// With `--thin`: one snapshot per day up to this age in days, one per week beyond.
    #[arg(long, value_name = "DAYS", default_value_t = retention::DEFAULT_THIN_DAILY_DAYS)]
    pub thin_daily_days: u32,
    /// Print what would be removed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the policy as of this time (RFC 3339) instead of the clock.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
}

impl CleanupArgs {
    /// The policy the flags describe.
    pub fn policy(&self) -> Policy {
        Policy {
            thin: self.thin.then(|| retention::Tiers {
                keep_all: Duration::days(self.thin_keep_all_days.into()),
                daily_until: Duration::days(self.thin_daily_days.into()),
            }),
            draft_idle: Duration::days(self.draft_idle_days.into()),
            keep_latest: self.keep_snapshots,
            keep_recent: Duration::days(self.keep_days.into()),
            keep_idempotency: Duration::hours(self.idempotency_hours.into()),
        }
    }
}

/// Plans and, unless `dry_run`, applies the cleanup; returns what was (or would be) changed.
pub async fn cleanup(
    db: &Db,
    policy: Policy,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Plan, AppError> {
    if dry_run {
        return read_consistent(db, |mut conn| {
            async move { retention::plan(&mut conn, policy, now).await }.scope_boxed()
        })
        .await;
    }
    db.write(|mut conn| {
        async move {
            let plan = retention::plan(&mut conn, policy, now).await?;
            retention::apply(&mut conn, &plan, policy, now).await
        }
        .scope_boxed()
    })
    .await
}

/// Runs `mapagov cleanup` and prints every POP and snapshot it touches.
pub async fn run(config: &Config, args: &CleanupArgs) -> anyhow::Result<()> {
    let db = Db::connect(&config.database).await?;
    let now = args.now.unwrap_or_else(Utc::now);
    let plan = cleanup(&db, args.policy(), now, args.dry_run).await?;
    print!("{}", render(&plan, args.dry_run));
    Ok(())
}

/// The report as printed.
pub fn render(plan: &Plan, dry_run: bool) -> String {
    let (soft, deleted) = if dry_run {
        ("would soft-delete", "would delete")
    } else {
        ("soft-deleted", "deleted")
    };
    let mut out = String::new();
    if !plan.drafts.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .drafts
            .iter()
            .map(|d| {
                vec![
                    d.id.to_string(),
                    d.uuid.to_string(),
                    d.last_activity_at.format("%Y-%m-%d").to_string(),
                    d.nome_processo.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&render_table(
            &["pop", "uuid", "last activity", "nome_processo"],
            &rows,
        ));
    }
    if !plan.snapshots.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .snapshots
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.pop_id.to_string(),
                    s.sequence.to_string(),
                    s.created_at.format("%Y-%m-%d").to_string(),
                ]
            })
            .collect();
        out.push_str(&render_table(
            &["snapshot", "pop", "sequence", "created"],
            &rows,
        ));
    }
    out.push_str(&format!(
        "{soft} {} idle drafts; {deleted} {} snapshots and {} idempotency records; change log \
         kept{}\n",
        plan.drafts.len(),
        plan.snapshots.len(),
        plan.idempotency_records,
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    ));
    out
}
