//! Neutralization on a real Odoo-like database full of real-looking secrets (the sample
//! fixture), the database copy, and the rules' server functions.
mod common;

use app::models::{NeutralizeRule, OutcomeStatus, Role, RuleKind};
use common::mail::call;
use common::{cluster_url, fresh_database, TestApp};
use odooops::neutralize::copy::{copy_database, CopyProgress};
use odooops::neutralize::sample::{load_sample, SAMPLE_SECRETS};
use odooops::neutralize::{failed_report, neutralize, MailTarget};
use sqlx::{Connection, PgConnection};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

fn catcher() -> MailTarget {
    MailTarget { host: "mail.staging.test".into(), port: 2525, username: "erp-staging".into(), password: "catcher-Pw-0123456789".into() }
}

/// The default rules, as a migrated console database holds them.
async fn default_rules() -> Vec<NeutralizeRule> {
    let url = fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    odooops::db::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    app::db::neutralize::defaults(&mut conn).await.unwrap()
}

/// A fresh database with the Odoo-like sample loaded; returns its URL.
async fn sample_db() -> String {
    let url = fresh_database().await;
    load_sample(&url).await.unwrap();
    load_sample(&url).await.expect("the sample loads twice");
    url
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

/// Every value of every column of every table outside the system schemas, as text.
async fn all_values(url: &str) -> Vec<(String, String)> {
    let mut conn = connect(url).await;
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "select table_schema::text, table_name::text, column_name::text, data_type::text from information_schema.columns
          where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (schema, table, column, ty) in columns {
        let expr = if ty == "bytea" { format!("encode(\"{column}\", 'escape')") } else { format!("\"{column}\"::text") };
        let sql = format!("select {expr} from \"{schema}\".\"{table}\" where \"{column}\" is not null");
        let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap();
        out.extend(values.into_iter().map(|v| (format!("{schema}.{table}.{column}"), v)));
    }
    out
}

/// Each planted secret still found, with where.
async fn secrets_left(url: &str) -> Vec<String> {
    let values = all_values(url).await;
    SAMPLE_SECRETS
        .iter()
        .filter_map(|s| {
            let places: Vec<&str> = values.iter().filter(|(_, v)| v.contains(s)).map(|(at, _)| at.as_str()).collect();
            (!places.is_empty()).then(|| format!("{s} in {}", places.join(", ")))
        })
        .collect()
}

async fn scalar<T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin>(url: &str, sql: &'static str) -> T {
    sqlx::query_scalar(sql).fetch_one(&mut connect(url).await).await.unwrap()
}

#[tokio::test]
async fn the_default_rules_leave_no_planted_secret_and_point_mail_at_the_catcher() {
    let rules = default_rules().await;
    assert!(rules.len() >= 20, "{} default rules", rules.len());
    for r in &rules {
        r.check().unwrap_or_else(|e| panic!("default rule {} is invalid: {e}", r.name));
    }
    let url = sample_db().await;
    assert_eq!(secrets_left(&url).await.len(), SAMPLE_SECRETS.len(), "every planted secret is found before");
    let password_before: Vec<String> = sqlx::query_scalar("select password from res_users order by id").fetch_all(&mut connect(&url).await).await.unwrap();
    let uuid_before: String = scalar(&url, "select value from ir_config_parameter where key = 'database.uuid'").await;

    let report = neutralize(&url, &rules, &catcher()).await.expect("neutralization succeeds");

    assert_eq!(secrets_left(&url).await, Vec::<String>::new(), "no secret may remain");
    let servers: Vec<(String, i32, String, String, String, String)> = sqlx::query_as(
        "select smtp_host, smtp_port, smtp_user, smtp_pass, smtp_encryption, smtp_authentication from ir_mail_server order by id",
    )
    .fetch_all(&mut connect(&url).await)
    .await
    .unwrap();
    assert_eq!(servers.len(), 4);
    for s in servers {
        assert_eq!(s, ("mail.staging.test".into(), 2525, "erp-staging".into(), "catcher-Pw-0123456789".into(), "none".into(), "login".into()));
    }
    assert_eq!(scalar::<i64>(&url, "select count(*) from ir_cron where active").await, 0, "every cron is off");
    assert_eq!(scalar::<i64>(&url, "select count(*) from fetchmail_server where active").await, 0);
    let states: Vec<(String, String)> = sqlx::query_as("select code, state from payment_provider order by id").fetch_all(&mut connect(&url).await).await.unwrap();
    assert_eq!(states.iter().map(|(c, s)| format!("{c}:{s}")).collect::<Vec<_>>(), ["stripe:disabled", "adyen:disabled", "paypal:test", "mollie:test", "custom:disabled"]);
    let password_after: Vec<String> = sqlx::query_scalar("select password from res_users order by id").fetch_all(&mut connect(&url).await).await.unwrap();
    assert_eq!(password_before, password_after, "people still sign in to the copy");
    assert_eq!(scalar::<String>(&url, "select value from ir_config_parameter where key = 'database.is_neutralized'").await, "true");
    assert_ne!(scalar::<String>(&url, "select value from ir_config_parameter where key = 'database.uuid'").await, uuid_before);
    assert_eq!(scalar::<String>(&url, "select value from ir_config_parameter where key = 'database.enterprise_code'").await, "M23112912345678");
    assert_eq!(scalar::<String>(&url, "select client_id from account_online_link").await, "duplicate");
    assert_eq!(scalar::<String>(&url, "select api_key from integrations.webhooks where id = 1").await, "", "a NOT NULL column becomes empty");
    assert_eq!(scalar::<Option<String>>(&url, "select webhook_secret from integrations.webhooks where id = 1").await, None);
    assert_eq!(scalar::<i64>(&url, "select count(*) from mail_push_device").await, 0);

    assert!(report.succeeded() && report.rows_changed > 50 && report.columns_blanked > 20, "{report:#?}");
    assert!(report.tables_missing.contains(&"payment_acquirer".to_string()), "{:?}", report.tables_missing);
    let skipped = report.rules.iter().find(|r| r.name.starts_with("Payment providers not live")).unwrap();
    assert_eq!(skipped.status, OutcomeStatus::Skipped);
    assert!(skipped.detail.contains("is_live"), "{}", skipped.detail);
    let generic = report.rules.iter().find(|r| r.name == "Secret columns anywhere").unwrap();
    assert!(generic.detail.contains("integrations.webhooks.api_key") && generic.detail.contains("res_users.password (excluded)"), "{}", generic.detail);
    let text = serde_json::to_string(&report).unwrap();
    for s in SAMPLE_SECRETS.iter().chain(["catcher-Pw-0123456789"].iter()) {
        assert!(!text.contains(s), "the report shows {s}");
    }

    let again = neutralize(&url, &rules, &catcher()).await.unwrap();
    assert_eq!(again.rows_changed, 0, "a second run changes nothing: {:#?}", again.rules.iter().filter(|r| r.rows > 0).collect::<Vec<_>>());
    assert_eq!(again.columns_blanked, 0);
}

fn rule(name: &str, kind: RuleKind, table: &str, set: &str, pattern: &str) -> NeutralizeRule {
    NeutralizeRule {
        id: Uuid::new_v4(),
        position: 10,
        name: name.into(),
        description: String::new(),
        kind,
        table_name: table.into(),
        set_sql: set.into(),
        where_sql: String::new(),
        column_pattern: pattern.into(),
        exclude: String::new(),
        enabled: true,
        builtin: false,
    }
}

#[tokio::test]
async fn missing_tables_and_columns_skip_their_rule_and_unique_columns_are_kept() {
    let url = sample_db().await;
    // The database's owner could shadow a function the rules call; the engine never calls theirs.
    sqlx::raw_sql(
        "create table app_tokens (id int primary key, api_key text not null unique); insert into app_tokens values (1, 'k1'), (2, 'k2');
         create function public.lower(varchar) returns text language plpgsql as $$ begin raise exception 'shadowed lower() called'; end $$;",
    )
        .execute(&mut connect(&url).await)
        .await
        .unwrap();
    let mut off = rule("Disabled one", RuleKind::Delete, "res_partner", "", "");
    off.enabled = false;
    let rules = vec![
        rule("No such table", RuleKind::Update, "sale_order_ghost", "active = false", ""),
        rule("No such column", RuleKind::Update, "ir_cron", "ghost_column = 1", ""),
        rule("Unique tokens", RuleKind::ColumnPattern, "app_tokens", "", "api_key$"),
        rule("Lower-case names", RuleKind::Update, "res_partner", "name = lower(name)", ""),
        off,
    ];
    let report = neutralize(&url, &rules, &catcher()).await.unwrap();
    let by_name = |n: &str| report.rules.iter().find(|r| r.name == n).unwrap().clone();
    assert_eq!(by_name("No such table").status, OutcomeStatus::Skipped);
    assert_eq!(by_name("No such table").detail, "table sale_order_ghost not present");
    assert_eq!(report.tables_missing, vec!["sale_order_ghost".to_string()]);
    assert_eq!(by_name("No such column").status, OutcomeStatus::Skipped);
    assert!(by_name("No such column").detail.contains("ghost_column"), "{}", by_name("No such column").detail);
    assert!(by_name("Unique tokens").detail.contains("kept app_tokens.api_key (not null and unique)"), "{}", by_name("Unique tokens").detail);
    assert!(report.rules.iter().all(|r| r.name != "Disabled one"), "disabled rules do not run");
    assert_eq!(by_name("Lower-case names").rows, 4, "{:?}", by_name("Lower-case names"));
    assert_eq!(scalar::<String>(&url, "select name from res_partner where id = 1").await, "acme industries");
    assert_eq!(scalar::<i64>(&url, "select count(*) from res_partner").await, 4);
    assert_eq!(scalar::<i64>(&url, "select count(*) from ir_cron where active").await, 5, "the skipped rule changed nothing");
}

#[tokio::test]
async fn a_broken_rule_fails_the_run_and_nothing_changes() {
    let url = sample_db().await;
    let mut broken = rule("Broken", RuleKind::Update, "payment_provider", "state = 'test' +", "");
    broken.position = 20;
    let mut never = rule("Never runs", RuleKind::Delete, "ir_act_server", "", "");
    never.position = 30;
    let rules = vec![rule("Crons off", RuleKind::Update, "ir_cron", "active = false", ""), broken, never];
    let err = neutralize(&url, &rules, &catcher()).await.expect_err("the run fails");
    let report = failed_report(&err).expect("the error carries the report");
    let message = report.error.clone().unwrap();
    assert!(message.contains("rule “Broken” failed") && message.contains("syntax error") && message.contains("Nothing was changed"), "{message}");
    assert_eq!(err.to_string(), message);
    assert_eq!(report.rules.iter().map(|r| (r.name.as_str(), r.status)).collect::<Vec<_>>(), [("Crons off", OutcomeStatus::Applied), ("Broken", OutcomeStatus::Failed)]);
    assert!(report.rules[0].detail.ends_with("(rolled back)"));
    assert_eq!(report.rows_changed, 0);
    assert_eq!(scalar::<i64>(&url, "select count(*) from ir_cron where active").await, 5, "rolled back");
    assert_eq!(scalar::<i64>(&url, "select count(*) from ir_config_parameter where key = 'database.is_neutralized'").await, 0);

    // A rule that would reach outside the database is refused before anything runs.
    let sneaky = rule("Sneaky", RuleKind::Update, "res_partner", "comment = pg_read_file('/etc/passwd')", "");
    let err = neutralize(&url, &[sneaky], &catcher()).await.unwrap_err();
    assert!(err.to_string().contains("rule “Sneaky” failed: the rule is not valid: Set: system catalogs and functions (pg_…, information_schema) are off limits"), "{err}");
    let bad_regex = rule("Bad regex", RuleKind::ColumnPattern, "", "", "(unclosed");
    let err = neutralize(&url, &[bad_regex], &catcher()).await.unwrap_err();
    assert!(err.to_string().contains("invalid regular expression"), "{err}");
}

#[tokio::test]
async fn a_copy_has_the_same_rows_and_a_failed_copy_leaves_nothing_behind() {
    let url = sample_db().await;
    let source = url.rsplit('/').next().unwrap().to_string();
    let target = format!("{source}_copy");
    let seen = Arc::new(Mutex::new(Vec::<CopyProgress>::new()));
    let sink = seen.clone();
    let stats = copy_database(&cluster_url(), &source, &target, move |p| sink.lock().unwrap().push(p)).await.expect("copy");
    assert!(stats.bytes > 10_000, "{stats:?}");
    assert_eq!(seen.lock().unwrap().last(), Some(&CopyProgress { bytes: stats.bytes, done: true }));
    let target_url = format!("{}/{target}", url.rsplit_once('/').unwrap().0);
    let counts = "select (select count(*) from ir_config_parameter) + 100 * (select count(*) from res_users) + 1000 * (select count(*) from integrations.webhooks)";
    assert_eq!(scalar::<i64>(&target_url, counts).await, scalar::<i64>(&url, counts).await);
    assert_eq!(secrets_left(&target_url).await.len(), SAMPLE_SECRETS.len(), "a copy is a copy, secrets and all");

    let err = copy_database(&cluster_url(), &source, &target, |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = copy_database(&cluster_url(), "no_such_database_here", "t_copy_never", |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let mut admin = connect(&cluster_url()).await;
    assert!(!odooops::neutralize::copy::database_exists(&mut admin, "t_copy_never").await.unwrap(), "no target is left behind");
    odooops::neutralize::copy::drop_database(&cluster_url(), &target).await.unwrap();
    assert!(!odooops::neutralize::copy::database_exists(&mut admin, &target).await.unwrap());
    assert!(copy_database(&cluster_url(), &source, "Bad-Name", |_| {}).await.unwrap_err().to_string().contains("not a valid database name"));
}

#[tokio::test]
async fn only_admins_change_rules_every_change_is_audited_and_bad_input_is_refused() {
    let app = TestApp::spawn().await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let (status, page) = call(&app, &dev, "neutralize-overview", &[("slug", "erp")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["can_manage"], false);
    let rules = page["rules"].as_array().unwrap();
    assert!(rules.len() >= 20 && rules.iter().all(|r| r["builtin"] == true && r["enabled"] == true));
    let cron = rules.iter().find(|r| r["table_name"] == "ir_cron").unwrap()["id"].as_str().unwrap().to_string();

    let (status, _) = call(&app, &dev, "neutralize-rule-toggle", &[("id", &cron), ("enabled", "false")]).await;
    assert_eq!(status, 403, "developers cannot edit rules");
    let (status, body) = call(&app, &admin, "neutralize-rule-toggle", &[("id", &cron), ("enabled", "false")]).await;
    assert_eq!((status, &body["enabled"]), (200, &serde_json::Value::Bool(false)), "{body}");
    let details: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'neutralize.rule_changed' order by id desc limit 1").fetch_one(&app.owner).await.unwrap();
    assert_eq!((details["before"]["enabled"].as_bool(), details["after"]["enabled"].as_bool()), (Some(true), Some(false)));

    let add = |fields: &[(&'static str, &'static str)]| {
        let mut form = vec![("slug", "erp")];
        form.extend_from_slice(fields);
        let (app, admin) = (&app, &admin);
        async move { call(app, admin, "neutralize-rule-add", &form).await }
    };
    let pattern = |p: &'static str| [("rule[name]", "Custom tokens"), ("rule[kind]", "column_pattern"), ("rule[column_pattern]", p)];
    let (status, body) = add(&pattern("(unclosed")).await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("Column pattern: not a valid regular expression"), "{body}");
    let (status, body) = add(&[("rule[name]", "x"), ("rule[kind]", "update"), ("rule[table_name]", "bad table"), ("rule[set_sql]", "a = 1")]).await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("is not a table name"), "{body}");
    let (status, body) = add(&[("rule[name]", "x"), ("rule[kind]", "update"), ("rule[table_name]", "res_partner"), ("rule[set_sql]", "")]).await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("Set: an update rule needs assignments"), "{body}");
    let (status, body) = add(&[("rule[name]", "x"), ("rule[kind]", "update"), ("rule[table_name]", "res_partner"), ("rule[set_sql]", "comment = dblink('x')")]).await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("function “dblink” is not allowed"), "{body}");
    let (status, body) = add(&pattern("^custom_.*_token$")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["builtin"].as_bool(), body["kind"].as_str()), (Some(false), Some("column_pattern")));
    let (status, _) = add(&pattern("^other$")).await;
    assert_eq!(status, 409, "names are unique per project");

    let added = body["id"].as_str().unwrap().to_string();
    let edit = [("id", added.as_str()), ("rule[name]", "Custom tokens"), ("rule[kind]", "column_pattern"), ("rule[column_pattern]", "^custom_token$"), ("rule[description]", "Ours.")];
    let (status, _) = call(&app, &dev, "neutralize-rule-edit", &edit).await;
    assert_eq!(status, 403);
    let (status, body) = call(&app, &admin, "neutralize-rule-edit", &edit).await;
    assert_eq!((status, body["column_pattern"].as_str(), body["description"].as_str()), (200, Some("^custom_token$"), Some("Ours.")), "{body}");
    let details: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'neutralize.rule_changed' order by id desc limit 1").fetch_one(&app.owner).await.unwrap();
    assert_eq!((details["before"]["column_pattern"].as_str(), details["after"]["column_pattern"].as_str()), (Some("^custom_.*_token$"), Some("^custom_token$")));
    let (status, body) = call(&app, &admin, "neutralize-rule-delete", &[("id", &cron)]).await;
    assert_eq!(status, 409, "built-in rules are disabled, not deleted: {body}");
    let (status, _) = call(&app, &dev, "neutralize-rule-delete", &[("id", &added)]).await;
    assert_eq!(status, 403);
    let (status, body) = call(&app, &admin, "neutralize-rule-delete", &[("id", &added)]).await;
    assert_eq!(status, 200, "{body}");
    // Another tenant's admin sees none of these rules and cannot touch them.
    let other = odooops::admin::ensure_tenant(&mut app.owner.acquire().await.unwrap(), "other", "Other Corp").await.unwrap();
    let (_, outsider_email) = app.member_of(other, Role::Admin).await;
    let (outsider, res) = app.login(&outsider_email, common::PASSWORD).await;
    assert_eq!(res.status(), 200);
    let (status, _) = call(&app, &outsider, "neutralize-rule-toggle", &[("id", &cron), ("enabled", "false")]).await;
    assert_eq!(status, 404, "rules are tenant data");
    let (status, _) = call(&app, &outsider, "neutralize-overview", &[("slug", "erp")]).await;
    assert_eq!(status, 404);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|(a, _, _)| a).filter(|a| a.starts_with("neutralize.")).collect();
    assert_eq!(actions, ["neutralize.rule_changed", "neutralize.rule_added", "neutralize.rule_changed", "neutralize.rule_deleted"]);
    app.stop().await;
}

#[tokio::test]
async fn a_recorded_run_keeps_its_report_for_the_page_and_the_audit_log() {
    use app::db::neutralize::NewRun;
    use odooops::neutralize::record::{run_recorded, Actor};
    let app = TestApp::spawn().await;
    let (admin, admin_id, email) = app.logged_in(Role::Admin).await;
    let claims = app::db::DbClaims { sub: admin_id, tenant_id: app.tenant_id, role: Role::Admin };
    let actor = Actor { id: Some(admin_id), email: email.clone(), request_id: String::new() };
    let url = sample_db().await;
    let db_name = url.rsplit('/').next().unwrap().to_string();
    let run = NewRun { project_id: app.project_id, environment_id: None, promotion_id: None, restore_id: None, actor_email: &email, database_name: &db_name };
    let report = run_recorded(&app.services_db(), &claims, &run, &actor, &url, &catcher()).await.unwrap();
    assert!(report.rows_changed > 50);
    assert_eq!(secrets_left(&url).await, Vec::<String>::new());

    let missing = format!("{}/t_missing_{}", url.rsplit_once('/').unwrap().0, Uuid::new_v4().simple());
    let gone = NewRun { database_name: "t_missing", ..run.clone() };
    assert!(run_recorded(&app.services_db(), &claims, &gone, &actor, &missing, &catcher()).await.is_err());

    let (status, page) = call(&app, &admin, "neutralize-overview", &[("slug", "erp")]).await;
    assert_eq!(status, 200);
    let runs = page["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r["status"].as_str().unwrap()).collect::<Vec<_>>(), ["failed", "succeeded"]);
    assert!(runs[0]["report"]["error"].as_str().unwrap().contains("connecting"), "{}", runs[0]["report"]);
    assert_eq!(runs[1]["report"]["rows_changed"].as_i64(), Some(report.rows_changed));
    assert_eq!(runs[1]["database_name"].as_str(), Some(db_name.as_str()));
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|(a, _, _)| a).filter(|a| a.starts_with("neutralize.")).collect();
    assert_eq!(actions, ["neutralize.succeeded", "neutralize.failed"]);
    app.stop().await;
}
