//! Preflight gates against real workspaces on disk and real databases in the test cluster.
//! Gate 1 and the inputs (missing, unreachable, slow, huge) here; gates 2-3 in `gates/database.rs`,
//! gates 4-6 in `gates/config.rs`.
mod common;
mod gates {
    mod config;
    mod database;
    pub mod support;
}

use app::models::{GateId, GateSettings, GateStatus, MAX_EVIDENCE};
use gates::support::{evidence, gate, has_evidence, run, EnvDb, Workspace};
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
