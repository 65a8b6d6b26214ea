//! Scanner benchmark: a full scan (every lint) of a generated database of about 10,000
//! objects (tables with foreign keys, indexes, policies, functions), side by side with
//! splinter's published combined lint query on the same database, and whether both report
//! the same findings.
//!
//!     BENCH_SPLINTER_SQL=path/to/splinter.sql cargo run --release -p odooops --example bench_scan
//!
//! splinter.sql is not part of this repository: take it from github.com/supabase/splinter
//! (`git show HEAD:splinter.sql`). Environment: BENCH_TABLES (default 1400), BENCH_RUNS
//! (default 5), BENCH_MD (write the results section into this markdown file), DATABASE_URL
//! (a cluster as its owner; default a throwaway one).
#[path = "support/bench.rs"]
mod bench;

use anyhow::{Context, Result};
use bench::{env_num, loadavg, machine, spread, with_db, write_md, Cluster};
use odooops::scan::{scan, ScanOptions};
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeSet;
use std::time::Instant;
use uuid::Uuid;

/// Tables in chains of foreign keys (every other one indexed), a policy on each, RLS on some,
/// a function per table (some SECURITY DEFINER), a view per ten tables.
fn schema_sql(tables: usize) -> String {
    let mut s = String::from(
        "do $$ begin
           if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin; end if;
           if not exists (select from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
         end $$;
         create schema if not exists app;\n",
    );
    for i in 0..tables {
        let schema = if i % 2 == 0 { "public" } else { "app" };
        s.push_str(&format!("create table {schema}.t{i} (id bigint generated always as identity primary key, tenant_id uuid, name text not null default '', parent_id bigint{});\n",
            if i > 0 { format!(" references {}.t{} (id)", if (i - 1) % 2 == 0 { "public" } else { "app" }, i - 1) } else { String::new() }));
        if i % 2 == 0 {
            s.push_str(&format!("create index on {schema}.t{i} (parent_id);\n"));
        }
        s.push_str(&format!("create index on {schema}.t{i} (name);\n"));
        if i % 3 == 0 {
            s.push_str(&format!(
                "alter table {schema}.t{i} enable row level security;\n"
            ));
        }
        s.push_str(&format!("create policy p{i} on {schema}.t{i} for select to authenticated using (tenant_id is not null);\n"));
        s.push_str(&format!(
            "grant select on {schema}.t{i} to anon, authenticated;\n"
        ));
        s.push_str(&format!(
            "create function {schema}.f{i}(x bigint) returns bigint language sql {} {} as $f$ select x + {i} $f$;\n",
            if i % 5 == 0 { "security definer" } else { "" },
            if i % 4 == 0 { "set search_path = ''" } else { "" }
        ));
        if i % 10 == 0 {
            s.push_str(&format!(
                "create view {schema}.v{i} as select id, name from {schema}.t{i};\n"
            ));
        }
    }
    s
}

#[tokio::main]
async fn main() -> Result<()> {
    let cluster = Cluster::start()?;
    let db_name = format!("bench_{}", Uuid::new_v4().simple());
    let result = run(&cluster, &db_name).await;
    cluster.finish(&db_name).await;
    result
}

async fn run(cluster: &Cluster, db_name: &str) -> Result<()> {
    let tables = env_num("BENCH_TABLES", 1400);
    let runs = env_num("BENCH_RUNS", 5).max(1);
    let splinter_path = std::env::var("BENCH_SPLINTER_SQL").ok();
    odooops::db::ensure_database(&cluster.url, db_name).await?;
    let url = with_db(&cluster.url, db_name);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    let m = machine(&pool, &["shared_buffers"]).await?;
    pool.close().await;
    println!("== OdooOps scanner benchmark: full scan vs splinter ==");
    println!(
        "machine     {} CPUs, {}, load average {}",
        m.cpus, m.cpu_model, m.load_before
    );
    let mut conn = PgConnection::connect(&url).await?;
    let t = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(schema_sql(tables)))
        .execute(&mut conn)
        .await
        .context("generating the database")?;
    sqlx::query("analyze").execute(&mut conn).await?;
    let objects: i64 = sqlx::query_scalar(
        "select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('public', 'app'))
              + (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname in ('public', 'app'))
              + (select count(*) from pg_policy) + (select count(*) from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname in ('public', 'app'))",
    )
    .fetch_one(&mut conn)
    .await?;
    println!("database    {tables} tables, {objects} objects (relations, functions, policies, constraints), generated in {:.1} s", t.elapsed().as_secs_f64());

    let opts = ScanOptions::default();
    let mut ours = Vec::new();
    let mut our_keys = BTreeSet::new();
    for _ in 0..runs {
        let t = Instant::now();
        let report = scan(&mut conn, &opts).await?;
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
        our_keys = report
            .findings
            .iter()
            .filter(|f| !f.lint.starts_with("OD"))
            .map(|f| (f.name.clone(), f.cache_key.clone()))
            .collect();
    }
    let (med, lo, hi) = spread(&ours);
    println!("console     full scan (34 lints) median {med:.0} ms ({lo:.0}–{hi:.0}), {} splinter-lint findings", our_keys.len());

    let mut reference = None;
    if let Some(path) = &splinter_path {
        let sql = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        // The file starts with `set local search_path = ''`; we set it (and the exposed
        // schemas, as Supabase's Studio does) with set_config in the same transaction.
        let body = sql
            .trim_start()
            .strip_prefix("set local search_path = '';")
            .unwrap_or(&sql)
            .to_string();
        let mut times = Vec::new();
        let mut keys = BTreeSet::new();
        for _ in 0..runs {
            let t = Instant::now();
            let mut tx = conn.begin().await?;
            sqlx::query("select set_config('search_path', '', true), set_config('pgrst.db_schemas', 'public', true)").execute(&mut *tx).await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(body.clone()))
                .fetch_all(&mut *tx)
                .await
                .context("running splinter.sql")?;
            tx.rollback().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            keys = rows
                .iter()
                .map(|r| (r.get::<String, _>("name"), r.get::<String, _>("cache_key")))
                .collect();
        }
        let (smed, slo, shi) = spread(&times);
        let only_ours = our_keys.difference(&keys).count();
        let only_theirs = keys.difference(&our_keys).count();
        println!("splinter    splinter.sql median {smed:.0} ms ({slo:.0}–{shi:.0}), {} findings; only ours {only_ours}, only splinter's {only_theirs}", keys.len());
        for k in our_keys.symmetric_difference(&keys).take(10) {
            println!("  differs: {k:?}");
        }
        reference = Some((smed, slo, shi, keys.len(), only_ours, only_theirs));
    } else {
        println!("splinter    not run: set BENCH_SPLINTER_SQL to splinter.sql from github.com/supabase/splinter");
    }
    conn.close().await?;

    let mut section = String::new();
    section.push_str("Command: `BENCH_SPLINTER_SQL=splinter.sql cargo run --release -p odooops --example bench_scan` (splinter.sql from supabase/splinter, commit noted below).\n\n");
    section.push_str(&format!(
        "Machine: {} CPUs ({}), load average before {}, after {}. Database: {tables} tables in two schemas, {objects} objects; {runs} runs each, warm.\n\n",
        m.cpus, m.cpu_model, m.load_before, loadavg()
    ));
    section.push_str(
        "| scanner | what runs | median ms | min–max ms | findings |\n|---|---|---:|---:|---:|\n",
    );
    section.push_str(&format!("| console | 34 lints (splinter's 28 + 6 of ours), one query each | {med:.0} | {lo:.0}–{hi:.0} | {} (splinter's lints) |\n", our_keys.len()));
    match reference {
        Some((smed, slo, shi, n, only_ours, only_theirs)) => {
            section.push_str(&format!("| splinter | splinter.sql (28 lints in one query) | {smed:.0} | {slo:.0}–{shi:.0} | {n} |\n"));
            section.push_str(&format!("\nSame findings (name, cache_key): {}; only ours {only_ours}, only splinter's {only_theirs}.\n", if only_ours == 0 && only_theirs == 0 { "yes" } else { "no" }));
        }
        None => section.push_str("| splinter | not run (BENCH_SPLINTER_SQL unset) | | | |\n"),
    }
    println!("\n{section}");
    if let Ok(path) = std::env::var("BENCH_MD") {
        write_md(
            std::path::Path::new(&path),
            "bench_scan",
            "Scanner: full scan against splinter",
            &section,
        )?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
