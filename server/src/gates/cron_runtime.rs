//! Gate 3: scheduled-job runtime. Reads pg_cron's catalog (`cron.job`, `cron.job_run_details`)
//! in the environment database, disables active jobs whose recent runs took longer than the
//! limit (or are still running past it) and fails the gate for this run; the caller raises the
//! notification from `disabled_jobs`. Odoo's `ir_cron` is counted for the evidence only: Odoo
//! records when a job last ran, not how long it took.
use super::envdb::EnvDb;
use super::workspace::shorten;
use super::{could_not_check, fmt_duration, plural, Ctx, DisabledJob, Source};
use app::models::{Evidence, GateId, GateResult, GateStatus};
use sqlx::Connection;

/// Active jobs with a run in the window (or still running) longer than the limit. pg_cron's
/// statuses: starting, running, sending, connecting (in progress), succeeded, failed; a run
/// without `end_time` in a finished status was cut short (pg_cron marks those at restart).
const OFFENDERS: &str = "
select j.jobid, coalesce(j.jobname, '') as jobname, coalesce(j.command, '') as command,
       max(extract(epoch from coalesce(d.end_time, now()) - d.start_time))::float8 as longest,
       bool_or(d.end_time is null) as running
from cron.job j
join cron.job_run_details d on d.jobid = j.jobid
where j.active
  and d.start_time is not null
  and (d.end_time is not null or d.status in ('starting', 'running', 'sending', 'connecting'))
  and (d.start_time > now() - make_interval(hours => $1::int) or d.end_time is null)
  and coalesce(d.end_time, now()) - d.start_time > make_interval(secs => $2::float8)
group by j.jobid, j.jobname, j.command
order by longest desc, j.jobid";

/// Before pg_cron 1.4 there is no `cron.alter_job`; then the row is updated (pg_cron reloads
/// its job list on changes to `cron.job` and skips inactive jobs).
const HAS_ALTER_JOB: &str = "select to_regprocedure('cron.alter_job(bigint, text, text, text, text, boolean)') is not null";

pub(super) async fn check(ctx: &mut Ctx<'_>) -> (GateResult, Vec<DisabledJob>) {
    let gate = GateId::CronRuntime;
    let (limit, window) = (ctx.settings.cron_max_seconds, ctx.settings.cron_window_hours);
    let db = match &mut ctx.db {
        Source::Missing => return (GateResult::skipped(gate, "no environment database to check"), Vec::new()),
        Source::Failed(e) => return (could_not_check(gate, "environment database", e.clone()), Vec::new()),
        Source::Ready(db) => db,
    };
    match inspect(db, limit, window).await {
        Ok(r) => r,
        Err(e) => (could_not_check(gate, db.at("cron.job"), e), Vec::new()),
    }
}

async fn inspect(db: &mut EnvDb, limit: i64, window: i64) -> Result<(GateResult, Vec<DisabledJob>), String> {
    let gate = GateId::CronRuntime;
    let mut info = Vec::new();
    if db.has_relation("ir_cron").await? {
        let active: i64 = EnvDb::run(sqlx::query_scalar("select count(*) from ir_cron where active").fetch_one(&mut db.conn)).await?;
        info.push(Evidence::new(
            db.at("ir_cron"),
            format!("{} (Odoo records when a job last ran, not how long it took, so their runtime is not checked here)", plural(active as usize, "active Odoo scheduled action", "active Odoo scheduled actions")),
        ));
    }
    let has_jobs = db.has_relation("cron.job").await?;
    let has_runs = db.has_relation("cron.job_run_details").await?;
    if !has_jobs {
        info.insert(0, Evidence::new(db.at("cron.job"), "no pg_cron catalog in this database"));
        return Ok((
            GateResult::new(gate, GateStatus::Pass, "no pg_cron jobs", "The environment database has no pg_cron jobs whose runtime could exceed the limit.", "", info),
            Vec::new(),
        ));
    }
    let (active, total): (i64, i64) =
        EnvDb::run(sqlx::query_as("select count(*) filter (where active), count(*) from cron.job").fetch_one(&mut db.conn)).await?;
    info.insert(0, Evidence::new(db.at("cron.job"), format!("{} of {} active", plural(active as usize, "job", "jobs"), total)));
    if !has_runs {
        return Ok((
            GateResult::new(
                gate,
                GateStatus::Warn,
                "pg_cron keeps no run history here: runtimes could not be checked",
                "This pg_cron has no cron.job_run_details table (versions before 1.3), so the gate cannot tell how long jobs ran. This is a warning, not a pass.",
                "Upgrade pg_cron to 1.3 or later (ALTER EXTENSION pg_cron UPDATE) and keep cron.log_run on.",
                info,
            ),
            Vec::new(),
        ));
    }
    let offenders: Vec<(i64, String, String, f64, bool)> =
        EnvDb::run(sqlx::query_as(OFFENDERS).bind(window as i32).bind(limit as f64).fetch_all(&mut db.conn)).await?;
    if offenders.is_empty() {
        let summary = format!("no pg_cron job ran past {} in the last {window} h", fmt_duration(limit as f64));
        return Ok((GateResult::new(gate, GateStatus::Pass, summary, "Every active pg_cron job finished within its time limit.", "", info), Vec::new()));
    }

    let use_alter_job: bool = EnvDb::run(sqlx::query_scalar(HAS_ALTER_JOB).fetch_one(&mut db.conn)).await?;
    let mut bad = Vec::new();
    let mut disabled = Vec::new();
    let mut failures = Vec::new();
    for (job_id, jobname, command, longest, running) in offenders {
        let name = if jobname.is_empty() { shorten(command.trim(), 60) } else { jobname };
        let took = format!(
            "{} {} (limit {})",
            if running { "still running after" } else { "longest run" },
            fmt_duration(longest),
            fmt_duration(limit as f64)
        );
        match disable(db, job_id, use_alter_job).await {
            Ok(()) => {
                bad.push(Evidence::new(db.at(&format!("cron.job {job_id} ({name})")), format!("{took}; disabled")));
                disabled.push(DisabledJob { source: "pg_cron".into(), job_id, name, longest_seconds: longest, limit_seconds: limit });
            }
            Err(e) => {
                bad.push(Evidence::new(db.at(&format!("cron.job {job_id} ({name})")), format!("{took}; could not be disabled: {e}")));
                failures.push(job_id);
            }
        }
    }
    bad.extend(info);
    let n = disabled.len() + failures.len();
    let summary = if failures.is_empty() {
        format!("{} ran past {} and {} disabled", plural(n, "job", "jobs"), fmt_duration(limit as f64), if n == 1 { "was" } else { "were" })
    } else {
        format!("{} ran past {}; {} could not be disabled", plural(n, "job", "jobs"), fmt_duration(limit as f64), failures.len())
    };
    let result = GateResult::new(
        gate,
        GateStatus::Fail,
        summary,
        format!(
            "A scheduled job that runs longer than {} holds locks and a database connection the whole time, blocks the next run of itself and of \
             other jobs, and on a hosted platform is killed at the time limit and retried, so it may never finish. The jobs listed ran past the limit \
             in the last {window} h and were switched off so they stop piling up; they stay off until someone turns them back on.",
            fmt_duration(limit as f64)
        ),
        "Make each job do less per run: process records in batches (a few hundred per run, committing between batches) and let it run more often, \
         add indexes for the queries it makes, or move long work to a queue job. Then turn the job on again (cron.alter_job(job_id, active => true)). \
         If a longer runtime is expected, an admin can raise the limit in the project's gate settings.",
        bad,
    );
    Ok((result, disabled))
}

/// Switches one job off in a short read-write transaction (the connection is read-only by default).
async fn disable(db: &mut EnvDb, job_id: i64, use_alter_job: bool) -> Result<(), String> {
    let mut tx = EnvDb::run(db.conn.begin()).await?;
    EnvDb::run(sqlx::query("set transaction read write").execute(&mut *tx)).await?;
    if use_alter_job {
        EnvDb::run(sqlx::query("select cron.alter_job(job_id => $1, active => false)").bind(job_id).execute(&mut *tx)).await?;
    } else {
        EnvDb::run(sqlx::query("update cron.job set active = false where jobid = $1").bind(job_id).execute(&mut *tx)).await?;
    }
    EnvDb::run(tx.commit()).await?;
    tracing::info!(job_id, "gates: disabled a pg_cron job that ran past its limit");
    Ok(())
}
