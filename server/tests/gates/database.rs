//! Gates 2 and 3: object count and cron runtime, on fresh databases.
use super::support::{evidence, gate, has_evidence, run, EnvDb, PG_CRON_SHAPE};
use app::models::{GateId, GateSettings, GateStatus};

// ---- 2. Object count -----------------------------------------------------------------------

#[tokio::test]
async fn object_count_warns_and_fails_at_the_configured_thresholds() {
    assert_eq!((GateSettings::default().objects_warn, GateSettings::default().objects_fail), (8_000, 10_000));
    let db = EnvDb::new().await;
    let tables: String = (0..70).map(|i| format!("create table t{i} (v int);\n")).collect();
    db.exec(&tables).await;

    let strict = GateSettings { objects_warn: 40, objects_fail: 60, ..Default::default() };
    let report = run(None, Some(&db), &strict).await;
    let r = gate(&report, GateId::ObjectCount);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "71 objects in the database (limit 60)");
    assert!(has_evidence(r, &format!("database {}: pg_class", db.name), "70 relations"), "{:?}", evidence(r));
    assert!(has_evidence(r, &format!("database {}: pg_namespace", db.name), "1 schemas"), "{:?}", evidence(r));
    assert!(has_evidence(r, &format!("database {}: total", db.name), "71 objects (warn at 40, fail at 60)"), "{:?}", evidence(r));

    let warn = GateSettings { objects_warn: 40, objects_fail: 100, ..Default::default() };
    let r = run(None, Some(&db), &warn).await;
    assert_eq!(gate(&r, GateId::ObjectCount).status, GateStatus::Warn);
    assert_eq!(gate(&r, GateId::ObjectCount).summary, "71 objects in the database (fails at 100)");

    let r = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&r, GateId::ObjectCount);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "71 objects in the database (warns at 8,000)"));
}

#[tokio::test]
async fn object_count_covers_functions_types_constraints_triggers_and_policies() {
    let db = EnvDb::new().await;
    db.exec(
        "create schema app;
         create type app.mood as enum ('ok', 'sad');
         create table app.t (id int primary key, m app.mood, check (id > 0));
         create function app.f() returns trigger language plpgsql as $$ begin return new; end $$;
         create trigger tr before insert on app.t for each row execute function app.f();
         alter table app.t enable row level security;
         create policy p on app.t using (true);",
    )
    .await;
    let r = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&r, GateId::ObjectCount);
    let at = |c: &str| format!("database {}: {c}", db.name);
    // Table + its primary-key index; the enum (not its array type); pkey + check.
    for (catalog, found) in [("pg_class", "2 relations"), ("pg_proc", "1 functions"), ("pg_type", "1 types"), ("pg_constraint", "2 constraints"), ("pg_trigger", "1 triggers"), ("pg_policy", "1 row-level"), ("pg_namespace", "2 schemas")] {
        assert!(has_evidence(r, &at(catalog), found), "{catalog}: {:?}", evidence(r));
    }
    assert!(has_evidence(r, &at("total"), "10 objects"), "{:?}", evidence(r));
}

// ---- 3. Cron runtime -----------------------------------------------------------------------

async fn cron_db() -> EnvDb {
    let db = EnvDb::new().await;
    db.exec(PG_CRON_SHAPE).await;
    db.exec("create table ir_cron (id serial primary key, active boolean); insert into ir_cron (active) values (true), (true), (true), (false);").await;
    db
}

async fn active(db: &EnvDb, jobid: i64) -> bool {
    sqlx::query_scalar("select active from cron.job where jobid = $1").bind(jobid).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn cron_jobs_that_ran_past_the_limit_are_disabled_and_fail_the_gate() {
    let db = cron_db().await;
    db.exec(
        "insert into cron.job (jobid, schedule, command, jobname) values
           (1, '0 3 * * *', 'call heavy_rollup()', 'nightly-rollup'),
           (2, '*/5 * * * *', 'select 1', 'quick'),
           (3, '0 4 * * 0', 'vacuum analyze', 'weekly-vacuum'),
           (4, '*/10 * * * *', 'select refresh_everything()', null);
         insert into cron.job_run_details (jobid, status, start_time, end_time) values
           (1, 'succeeded', now() - interval '80 minutes', now() - interval '60 minutes'),
           (1, 'succeeded', now() - interval '25 hours 30 minutes', now() - interval '25 hours'),
           (2, 'succeeded', now() - interval '10 minutes', now() - interval '9 minutes 30 seconds'),
           (3, 'succeeded', now() - interval '3 days', now() - interval '3 days' + interval '40 minutes'),
           (4, 'running', now() - interval '16 minutes', null);",
    )
    .await;
    let report = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::CronRuntime);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "2 jobs ran past 15 min and were disabled");
    let ids: Vec<i64> = report.disabled_jobs.iter().map(|j| j.job_id).collect();
    assert_eq!(ids, [1, 4], "{:?}", report.disabled_jobs);
    let first = &report.disabled_jobs[0];
    assert_eq!((first.source.as_str(), first.name.as_str(), first.limit_seconds), ("pg_cron", "nightly-rollup", 900));
    assert!((first.longest_seconds - 1200.0).abs() < 5.0, "{first:?}");
    assert_eq!(report.disabled_jobs[1].name, "select refresh_everything()", "a job without a name goes by its command");
    assert!(!active(&db, 1).await && !active(&db, 4).await, "disabled in the database");
    assert!(active(&db, 2).await && active(&db, 3).await, "short and old runs leave their jobs alone");
    assert!(has_evidence(r, &format!("database {}: cron.job 1 (nightly-rollup)", db.name), "longest run 20 min (limit 15 min); disabled"), "{:?}", evidence(r));
    assert!(has_evidence(r, &format!("database {}: cron.job 4 (select refresh_everything())", db.name), "still running after 16 min"), "{:?}", evidence(r));
    assert!(has_evidence(r, &format!("database {}: ir_cron", db.name), "3 active Odoo scheduled actions"), "{:?}", evidence(r));

    // The next run finds nothing active to disable.
    let again = run(None, Some(&db), &GateSettings::default()).await;
    assert_eq!(gate(&again, GateId::CronRuntime).status, GateStatus::Pass);
    assert!(again.disabled_jobs.is_empty());
}

#[tokio::test]
async fn short_cron_runs_pass_and_stay_active() {
    let db = cron_db().await;
    db.exec(
        "insert into cron.job (jobid, schedule, command, jobname) values (7, '*/5 * * * *', 'select 1', 'quick');
         insert into cron.job_run_details (jobid, status, start_time, end_time) values
           (7, 'succeeded', now() - interval '10 minutes', now() - interval '9 minutes'),
           (7, 'failed', now() - interval '20 minutes', null);",
    )
    .await;
    let report = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::CronRuntime);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "no pg_cron job ran past 15 min in the last 24 h"), "{r:?}");
    assert!(report.disabled_jobs.is_empty());
    assert!(active(&db, 7).await);
    // A stricter limit catches the one-minute run.
    let strict = GateSettings { cron_max_seconds: 30, ..Default::default() };
    let report = run(None, Some(&db), &strict).await;
    assert_eq!(gate(&report, GateId::CronRuntime).summary, "1 job ran past 30 s and was disabled");
    assert!(!active(&db, 7).await);
}

#[tokio::test]
async fn a_database_without_pg_cron_passes_and_says_what_it_checked() {
    let db = EnvDb::new().await;
    let r = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&r, GateId::CronRuntime);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "no pg_cron jobs"));
    assert!(has_evidence(r, &format!("database {}: cron.job", db.name), "no pg_cron catalog"), "{:?}", evidence(r));
}
