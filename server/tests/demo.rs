//! `odooops serve --demo`: the demo data, its environment databases with the Odoo-like
//! sample, and the demo repository's branches.
mod common;

use common::{cluster_url, config, fresh_database};
use odooops::db::{with_database, Database};
use odooops::neutralize::sample::SAMPLE_SECRETS;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

const DEMO_DATABASES: [&str; 3] = ["acme_erp_development", "acme_erp_production", "acme_erp_staging"];

async fn drop_demo_databases() {
    let mut conn = PgConnection::connect(&cluster_url()).await.unwrap();
    for name in DEMO_DATABASES {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)"))).execute(&mut conn).await.unwrap();
    }
}

async fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new("git").arg("-C").arg(dir).args(args).output().await.unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn the_demo_gives_each_environment_a_database_with_the_sample() {
    // The demo's database names are fixed, so this test owns them on the test cluster.
    drop_demo_databases().await;
    let cfg = config(&fresh_database().await);
    let database = Database::open(&cfg).await.unwrap();
    odooops::demo::load(&database, &cfg).await.expect("the demo loads");

    let envs: Vec<(String, Option<String>)> = sqlx::query_as(
        "select e.name, e.database_name from ops.environments e join ops.projects p on p.id = e.project_id
          where p.slug = 'acme-erp' order by e.name",
    )
    .fetch_all(&database.owner)
    .await
    .unwrap();
    let names: Vec<_> = envs.iter().map(|(_, db)| db.clone().unwrap_or_default()).collect();
    assert_eq!(names, DEMO_DATABASES, "each environment of acme-erp records its database: {envs:?}");

    for name in DEMO_DATABASES {
        let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)").bind(name).fetch_one(&database.owner).await.unwrap();
        assert!(exists, "{name} exists on the console's server");
        let mut conn = PgConnection::connect(&with_database(&cluster_url(), name)).await.unwrap();
        let tables: i64 = sqlx::query_scalar(
            "select count(*) from information_schema.tables where table_schema = 'public'
                and table_name in ('ir_config_parameter', 'ir_mail_server', 'ir_cron', 'payment_provider', 'res_users')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 5, "{name} holds the Odoo-like tables");
        let secret: String = sqlx::query_scalar("select value from ir_config_parameter where key = 'database.secret'").fetch_one(&mut conn).await.unwrap();
        assert_eq!(secret, SAMPLE_SECRETS[0], "{name} still holds production's secrets (nothing neutralized it)");
        conn.close().await.unwrap();
    }

    // The dev branch's head, the one the demo builds, adds a Dockerfile installing a system
    // package; main and staging do not have one.
    let repo = cfg.data_dir.join("demo-repos").join("acme-erp");
    let dockerfile = git(&repo, &["show", "dev:Dockerfile"]).await;
    assert!(dockerfile.contains("apt-get install -y wkhtmltopdf"), "{dockerfile}");
    assert_eq!(git(&repo, &["diff", "--name-only", "dev~1", "dev"]).await, "Dockerfile", "the newest dev commit adds it");
    for clean in ["main", "staging"] {
        let files = git(&repo, &["ls-tree", "--name-only", clean]).await;
        assert!(!files.contains("Dockerfile"), "{clean} has no Dockerfile: {files}");
    }
    let dev_head = git(&repo, &["rev-parse", "dev"]).await;
    let queued: Vec<(String, String)> = sqlx::query_as("select br.name, b.sha from ops.builds b join ops.branches br on br.id = b.branch_id order by br.name")
        .fetch_all(&database.owner)
        .await
        .unwrap();
    assert!(queued.contains(&("dev".to_string(), dev_head)), "the dev head is queued: {queued:?}");

    // A second start changes nothing and keeps the databases.
    odooops::demo::load(&database, &cfg).await.expect("the demo loads twice");
    let again: i64 = sqlx::query_scalar("select count(*) from ops.environments where database_name is not null").fetch_one(&database.owner).await.unwrap();
    assert_eq!(again, 3);
    database.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&cfg.data_dir);
    drop_demo_databases().await;
}

#[tokio::test]
async fn an_owner_who_cannot_create_databases_gets_a_demo_without_them() {
    let cfg = config(&fresh_database().await);
    let database = Database::open(&cfg).await.unwrap();
    let mut tx = database.owner.begin().await.unwrap();
    let tenant = odooops::admin::ensure_tenant(&mut tx, "nocreate", "No Create").await.unwrap();
    let project = odooops::admin::create_project_in(&mut tx, tenant, "nocreate-erp", "ERP", "").await.unwrap();
    tx.commit().await.unwrap();

    // A login without CREATEDB on the same server.
    let role = format!("t_nocreate_{}", &Uuid::new_v4().simple().to_string()[..10]);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create role {role} login nocreatedb password 'nocreate-Pw-123'"))).execute(&database.owner).await.unwrap();
    let cluster = cluster_url();
    let (scheme_and_user, host_and_db) = cluster.split_once('@').unwrap();
    let scheme = scheme_and_user.split_once("://").unwrap().0;
    let limited = format!("{scheme}://{role}:nocreate-Pw-123@{host_and_db}");

    odooops::demo_databases::create(&database.owner, &limited, project).await.expect("a refused create is a warning, not an error");
    let names: Vec<Option<String>> =
        sqlx::query_scalar("select database_name from ops.environments where project_id = $1").bind(project).fetch_all(&database.owner).await.unwrap();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| n.is_none()), "no database recorded: {names:?}");
    let created: i64 = sqlx::query_scalar("select count(*) from pg_database where datname like 'nocreate_erp_%'").fetch_one(&database.owner).await.unwrap();
    assert_eq!(created, 0);

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop role {role}"))).execute(&database.owner).await.unwrap();
    database.close().await.unwrap();
}
