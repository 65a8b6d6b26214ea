//! Preflight gates against real workspaces on disk and real databases in the test cluster.
mod common;
mod gates {
    pub mod support;
}

use app::models::{GateId, GateSettings, GateStatus, MAX_EVIDENCE};
use gates::support::{evidence, gate, has_evidence, run, EnvDb, Workspace, IR_MAIL_SERVER, PG_CRON_SHAPE};
use std::time::{Duration, Instant};

fn narrowed(allowed: &[&str]) -> GateSettings {
    GateSettings { allowed_extensions: allowed.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

// ---- 1. Extensions -------------------------------------------------------------------------

#[tokio::test]
async fn extensions_in_the_database_outside_the_allowed_list_fail() {
    let db = EnvDb::new().await;
    db.exec("create extension cube; create extension earthdistance; create extension hstore;").await;
    let report = run(None, Some(&db), &narrowed(&["hstore", "pg_trgm"])).await;
    let r = gate(&report, GateId::Extensions);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "2 extensions are not allowed: cube, earthdistance");
    let at = format!("database {}: pg_extension", db.name);
    assert!(has_evidence(r, &at, "cube 1."), "{:?}", evidence(r));
    assert!(has_evidence(r, &at, "hstore 1.8 (allowed)") || has_evidence(r, &at, "hstore"), "{:?}", evidence(r));
    assert!(!evidence(r).iter().any(|e| e.contains("plpgsql") && e.contains("not allowed")), "plpgsql is always allowed");
    assert!(r.fix.contains("allowed list") && r.fix.contains("Allowed now: plpgsql, hstore, pg_trgm"), "{}", r.fix);
}

#[tokio::test]
async fn allowed_extensions_and_commented_out_ones_pass() {
    let db = EnvDb::new().await;
    db.exec("create extension hstore; create extension pg_trgm;").await;
    let ws = Workspace::new(&[
        ("addons/geo/migrations/17.0.1.1/pre-migrate.py", "def migrate(cr, version):\n    cr.execute('CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"')\n    # cr.execute('CREATE EXTENSION postgis')\n"),
        ("sql/init.sql", "-- create extension postgis;\n/* CREATE EXTENSION pg_cron; */\ncreate extension if not exists unaccent;\n"),
        ("addons/geo/data/setup.xml", "<odoo><!-- CREATE EXTENSION postgis --></odoo>"),
    ]);
    let report = run(Some(&ws), Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::Extensions);
    assert_eq!(r.status, GateStatus::Pass, "{r:?}");
    assert!(has_evidence(r, "sql/init.sql:3", "CREATE EXTENSION unaccent (allowed)"), "{:?}", evidence(r));
    assert!(has_evidence(r, "addons/geo/migrations/17.0.1.1/pre-migrate.py:2", "uuid-ossp (allowed)"), "{:?}", evidence(r));
}

#[tokio::test]
async fn create_extension_in_migration_files_fails_with_file_and_line() {
    let mut geo = "-- geo support\n".repeat(11);
    geo.push_str("CREATE EXTENSION postgis;\n");
    let ws = Workspace::new(&[
        ("migrations/0003_geo.sql", &geo),
        ("addons/jobs/hooks.py", "def post_init_hook(env):\n    env.cr.execute(\"create extension if not exists \\\"pg_cron\\\"\")\n"),
    ]);
    let report = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&report, GateId::Extensions);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "2 extensions are not allowed: pg_cron, postgis");
    assert!(has_evidence(r, "migrations/0003_geo.sql:12", "CREATE EXTENSION postgis (not allowed)"), "{:?}", evidence(r));
    assert!(has_evidence(r, "addons/jobs/hooks.py:2", "CREATE EXTENSION pg_cron"), "{:?}", evidence(r));
    assert!(r.explanation.contains("PostGIS is large") && r.explanation.contains("pg_cron: it runs SQL on a schedule"), "{}", r.explanation);
    assert!(r.fix.contains("base_geolocalize") && r.fix.contains("ir.cron"), "{}", r.fix);
    // The database-only gates had no database.
    assert_eq!(gate(&report, GateId::ObjectCount).status, GateStatus::Skipped);
}

#[tokio::test]
async fn long_evidence_lists_are_capped() {
    let sql: String = (0..80).map(|i| format!("create extension ext_{i};\n")).collect();
    let ws = Workspace::new(&[("big.sql", &sql)]);
    let r = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&r, GateId::Extensions);
    assert_eq!(r.evidence.len(), MAX_EVIDENCE + 1);
    assert_eq!(r.evidence.last().unwrap().found, "and 30 more");
}

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

// ---- 4. System packages --------------------------------------------------------------------

#[tokio::test]
async fn a_dockerfile_installing_os_packages_fails() {
    let ws = Workspace::new(&[
        ("Dockerfile", "FROM odoo:17\nRUN apt-get update && apt-get install -y libpq-dev \\\n    gdal-bin\nCOPY . /mnt/extra-addons\n"),
        ("requirements.txt", "psycopg2-binary\n"),
    ]);
    let report = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&report, GateId::SystemPackages);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "1 command installs OS packages at run time: libpq-dev, gdal-bin");
    assert!(has_evidence(r, "Dockerfile:2", "RUN apt-get update && apt-get install -y libpq-dev"), "{:?}", evidence(r));
    assert!(r.fix.contains("psycopg2-binary"), "{}", r.fix);
}

#[tokio::test]
async fn commented_installs_and_pip_pass() {
    let ws = Workspace::new(&[
        ("Dockerfile", "FROM odoo:17\n# RUN apt-get install -y libpq-dev\nRUN pip install -r requirements.txt\n"),
        ("scripts/setup.sh", "#!/bin/sh\n# apk add build-base\npip install -r requirements.txt\n"),
        (".odooops.toml", "[[steps]]\nname = \"install\"\nrun = \"pip install -r requirements.txt\"\n"),
        ("node_modules/pkg/Dockerfile", "RUN apt-get install -y ignored-because-vendored\n"),
    ]);
    let r = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&r, GateId::SystemPackages);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "no OS package installs in 3 build files"), "{r:?}");
}

// ---- 5. SMTP -------------------------------------------------------------------------------

#[tokio::test]
async fn mail_servers_on_blocked_ports_fail_and_submission_ports_pass() {
    let db = EnvDb::new().await;
    db.exec(IR_MAIL_SERVER).await;
    db.exec("insert into ir_mail_server (name, smtp_host, smtp_port) values ('Office relay', 'mail.example.com', 25), ('Old', 'x.example.com', 2525);
             update ir_mail_server set active = false where name = 'Old';").await;
    let report = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::Smtp);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "1 mail server is set up on port 25 (allowed: 465 or 587)");
    assert!(has_evidence(r, &format!("database {}: ir_mail_server 1 (Office relay)", db.name), "mail.example.com:25 (not allowed)"), "{:?}", evidence(r));
    assert!(!evidence(r).iter().any(|e| e.contains("2525")), "inactive servers are not checked");
    assert!(r.explanation.contains("block port 25") && r.explanation.contains("2525"), "{}", r.explanation);

    db.exec("update ir_mail_server set smtp_port = 587").await;
    let r = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&r, GateId::Smtp);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "1 mail setting on allowed ports (465 or 587)"), "{r:?}");
}

#[tokio::test]
async fn smtp_port_in_odoo_conf_is_checked_and_comments_are_not() {
    let ws = Workspace::new(&[("config/odoo.conf", "[options]\nsmtp_server = relay.example.com\n; smtp_port = 25\nsmtp_port = 2525\n")]);
    let db = EnvDb::new().await; // no ir_mail_server table: that part is skipped
    let report = run(Some(&ws), Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::Smtp);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert!(has_evidence(r, "config/odoo.conf:4", "smtp_port = 2525 (not allowed)"), "{:?}", evidence(r));
    assert!(!evidence(r).iter().any(|e| e.contains(":3 ")), "the commented line does not count: {:?}", evidence(r));
    assert!(has_evidence(r, &format!("database {}: ir_mail_server", db.name), "no such table"), "{:?}", evidence(r));

    let ok = Workspace::new(&[("odoo.conf", "[options]\nsmtp_port = 465\n"), (".env", "SMTP_PORT=587\n")]);
    let r = run(Some(&ok), None, &GateSettings::default()).await;
    assert_eq!(gate(&r, GateId::Smtp).status, GateStatus::Pass, "{:?}", gate(&r, GateId::Smtp));
}

// ---- 6. Long-lived connections -------------------------------------------------------------

#[tokio::test]
async fn workers_and_gevent_port_warn() {
    let ws = Workspace::new(&[
        ("odoo.conf", "[options]\nworkers = 4\ngevent_port = 8072\n"),
        ("addons/sync/listener.py", "import psycopg2\n\ndef run(conn):\n    cur = conn.cursor()\n    cur.execute(\"LISTEN stock_changes\")\n"),
    ]);
    let report = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&report, GateId::LongLivedConnections);
    assert_eq!(r.status, GateStatus::Warn, "{r:?}");
    assert_eq!(r.summary, "3 places count on long-lived connections");
    assert!(has_evidence(r, "odoo.conf:2", "workers = 4 (multi-process mode"), "{:?}", evidence(r));
    assert!(has_evidence(r, "odoo.conf:3", "gevent_port = 8072"), "{:?}", evidence(r));
    assert!(has_evidence(r, "addons/sync/listener.py:5", "SQL LISTEN"), "{:?}", evidence(r));
    assert!(r.explanation.contains("deploys") && r.fix.contains("reconnect"), "{r:?}");
}

#[tokio::test]
async fn a_clean_workspace_passes_the_connection_gate() {
    let ws = Workspace::new(&[
        ("odoo.conf", "[options]\nworkers = 0\n# gevent_port = 8072\n"),
        ("addons/web_extra/models.py", "from odoo import models\n\nclass X(models.Model):\n    _name = 'x.x'\n    # cr.execute('LISTEN x')\n"),
        ("server.py", "import socket\ns = socket.socket()\ns.listen(5)\n"),
    ]);
    let r = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&r, GateId::LongLivedConnections);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "nothing counts on long-lived connections"), "{r:?}");
}

// ---- Inputs --------------------------------------------------------------------------------

#[tokio::test]
async fn gates_without_their_inputs_are_skipped() {
    let report = run(None, None, &GateSettings::default()).await;
    for r in &report.results {
        assert_eq!(r.status, GateStatus::Skipped, "{r:?}");
    }
    assert_eq!(gate(&report, GateId::ObjectCount).summary, "no environment database to check");
    assert_eq!(gate(&report, GateId::SystemPackages).summary, "no workspace to check");
    assert_eq!(gate(&report, GateId::Extensions).summary, "no workspace or environment database to check");
    assert_eq!(report.overall(), GateStatus::Skipped);
}

#[tokio::test]
async fn an_unreachable_database_warns_in_plain_words() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://someone:s3cret-pw@127.0.0.1:{port}/acme_staging");
    let settings = GateSettings::default();
    let started = Instant::now();
    let report = odooops::gates::run_all(&odooops::gates::GateInput { workspace: None, database_url: Some(&url), settings: &settings }).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    for id in [GateId::Extensions, GateId::ObjectCount, GateId::CronRuntime, GateId::Smtp] {
        let r = gate(&report, id);
        assert_eq!(r.status, GateStatus::Warn, "{r:?}");
        assert!(r.summary.contains("could not connect to the environment database acme_staging") && r.summary.contains("connection refused"), "{}", r.summary);
        assert!(!format!("{r:?}").contains("s3cret"), "no password in the result");
    }
    assert_eq!(gate(&report, GateId::SystemPackages).status, GateStatus::Skipped);
}

#[tokio::test]
async fn a_bad_url_or_missing_database_warns_too() {
    let settings = GateSettings::default();
    let report = odooops::gates::run_all(&odooops::gates::GateInput { workspace: None, database_url: Some("not a url"), settings: &settings }).await;
    assert!(gate(&report, GateId::ObjectCount).summary.contains("not a valid postgres:// URL"), "{:?}", gate(&report, GateId::ObjectCount));
    let cluster = common::cluster_url();
    let missing = format!("{}/no_such_db_here", cluster.rsplit_once('/').unwrap().0);
    let report = odooops::gates::run_all(&odooops::gates::GateInput { workspace: None, database_url: Some(&missing), settings: &settings }).await;
    let r = gate(&report, GateId::ObjectCount);
    assert_eq!(r.status, GateStatus::Warn);
    assert!(r.summary.contains("there is no database called no_such_db_here"), "{}", r.summary);
}

#[tokio::test]
async fn the_environment_database_is_read_only_and_slow_queries_are_cut() {
    // An `ir_mail_server` view whose rows come from a function that writes: the gate's
    // read-only session refuses, and the gate warns instead of passing.
    let db = EnvDb::new().await;
    db.exec(
        "create table audit (at timestamptz);
         create function servers() returns table (id int, name text, smtp_host text, smtp_port int, active boolean, sequence int)
           language plpgsql as $$ begin insert into audit values (now()); return query select 1, 'x'::text, 'h'::text, 587, true, 1; end $$;
         create view ir_mail_server as select * from servers();",
    )
    .await;
    let r = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&r, GateId::Smtp);
    assert_eq!(r.status, GateStatus::Warn, "{r:?}");
    assert!(r.summary.contains("read-only transaction"), "{}", r.summary);
    let writes: i64 = sqlx::query_scalar("select count(*) from audit").fetch_one(&db.pool).await.unwrap();
    assert_eq!(writes, 0);

    // A catalog read that takes longer than the statement timeout.
    let slow = EnvDb::new().await;
    slow.exec("create view ir_mail_server as select 1 as id, 'x' as name, 'h' as smtp_host, 587 as smtp_port, true as active, 1 as sequence from pg_sleep(7);").await;
    let started = Instant::now();
    let r = run(None, Some(&slow), &GateSettings::default()).await;
    assert!(started.elapsed() < Duration::from_secs(7), "cut after {:?}", started.elapsed());
    let r = gate(&r, GateId::Smtp);
    assert_eq!(r.status, GateStatus::Warn, "{r:?}");
    assert!(r.summary.contains("took longer than 5 seconds"), "{}", r.summary);
}

#[tokio::test]
async fn huge_binary_and_missing_workspaces_do_not_break_the_scan() {
    let ws = Workspace::new(&[("ok.sql", "create extension hstore;\n")]);
    let mut huge = "create extension postgis;\n".repeat(10);
    huge.push_str(&"-- filler\n".repeat(200_000));
    ws.write("dump.sql", huge.as_bytes());
    let mut binary = b"\x00\x01\xffCREATE EXTENSION postgis;\n".to_vec();
    binary.extend(std::iter::repeat_n(0xfeu8, 4096));
    ws.write("blob.sql", &binary);
    ws.write("Dockerfile.bin", b"RUN apt-get install -y x\n\x00\x00");
    let report = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&report, GateId::Extensions);
    assert_eq!(r.status, GateStatus::Pass, "large and binary files are skipped: {r:?}");
    assert_eq!(gate(&report, GateId::SystemPackages).status, GateStatus::Pass);

    let gone = ws.path().join("not-there");
    let settings = GateSettings::default();
    let report = odooops::gates::run_all(&odooops::gates::GateInput { workspace: Some(&gone), database_url: None, settings: &settings }).await;
    let r = gate(&report, GateId::SystemPackages);
    assert_eq!(r.status, GateStatus::Warn);
    assert!(r.summary.contains("is not there"), "{}", r.summary);
}
