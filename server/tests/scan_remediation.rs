//! The lints whose findings carry no safe fix, on a real PostgreSQL: the fixture database's
//! offending objects are found; the remediation each lint's text asks for, written by hand in
//! fixtures/scan_remediation.sql (one section per lint), is applied; the next scan no longer
//! finds them and finds nothing new for those lints. OD06 (a count over the whole database)
//! gets its own test: past 8,000 objects, then back below.
mod common;

use common::scan::fixture_database;
use odooops::scan::catalog::Level;
use odooops::scan::{scan_url, Outcome, Report, ScanOptions};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;

const REMEDIATION: &str = include_str!("fixtures/scan_remediation.sql");

/// What a section of the remediation file resolves.
enum Resolves {
    /// Every finding of its lint.
    All,
    /// These findings only: 0005's follow the statistics, and only the indexes no query
    /// needs are dropped.
    Only(&'static [&'static str]),
}

/// The lints the remediation file covers, in the order of its sections.
const COVERED: &[(&str, Resolves)] = &[
    ("0002_auth_users_exposed", Resolves::All),
    ("0003_auth_rls_initplan", Resolves::All),
    ("0004_no_primary_key", Resolves::All),
    (
        "0005_unused_index",
        Resolves::Only(&[
            "unused_index_public_idx_usage_idx_usage_a_unused",
            "unused_index_public_dup_idx_dup_b_plain",
            "unused_index_public_dup_idx_dup_b_partial",
            "unused_index_public_dup_idx_dup_b_hash",
        ]),
    ),
    ("0006_multiple_permissive_policies", Resolves::All),
    ("0008_rls_enabled_no_policy", Resolves::All),
    ("0015_rls_references_user_metadata", Resolves::All),
    ("0016_materialized_view_in_api", Resolves::All),
    ("0017_foreign_table_in_api", Resolves::All),
    ("0018_unsupported_reg_types", Resolves::All),
    ("0019_insecure_queue_exposed_in_api", Resolves::All),
    ("0021_fkey_to_auth_unique", Resolves::All),
    ("0022_extension_versions_outdated", Resolves::All),
    ("0023_sensitive_columns_exposed", Resolves::All),
    ("0024_rls_policy_always_true", Resolves::All),
    ("0025_public_bucket_allows_listing", Resolves::All),
    ("0026_pg_graphql_anon_table_exposed", Resolves::All),
    ("0027_pg_graphql_authenticated_table_exposed", Resolves::All),
    ("0028_anon_security_definer_function_executable", Resolves::All),
    ("0029_authenticated_security_definer_function_executable", Resolves::All),
    ("OD01_tenant_table_without_tenant_id", Resolves::All),
    ("OD02_allow_all_policy", Resolves::All),
    ("OD03_security_definer_without_justification", Resolves::All),
    ("OD04_missing_timestamps", Resolves::All),
];

/// The default exposure plus pgmq_public, the queue RPC schema without which 0019 does not
/// fire; the fixtures put nothing else in it, so the other lints see what a default scan sees.
fn options() -> ScanOptions {
    ScanOptions {
        exposed_schemas: vec!["public".into(), "pgmq_public".into()],
        ..ScanOptions::default()
    }
}

/// The file split at its `-- remediation: <lint>` lines: the preamble, then (lint, SQL) in
/// file order.
fn sections(sql: &str) -> (String, Vec<(String, String)>) {
    let mut preamble = String::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in sql.lines() {
        if let Some(id) = line.strip_prefix("-- remediation: ") {
            out.push((id.trim().to_string(), String::new()));
        }
        let text = match out.last_mut() {
            Some((_, text)) => text,
            None => &mut preamble,
        };
        text.push_str(line);
        text.push('\n');
    }
    (preamble, out)
}

fn keys(r: &Report, lint: &str) -> BTreeSet<String> {
    r.findings
        .iter()
        .filter(|f| f.lint == lint)
        .map(|f| f.cache_key.clone())
        .collect()
}

/// Every covered lint ran (one that stopped applying would report nothing and pass).
fn assert_ran(r: &Report, when: &str) {
    for (id, _) in COVERED {
        let run = r.lints.iter().find(|l| l.id == *id).unwrap_or_else(|| panic!("no lint {id}"));
        assert!(
            matches!(run.outcome, Outcome::Ran { .. }),
            "{when}: {id} did not run: {:?}",
            run.outcome
        );
    }
}

/// What is wrong with `after` for a lint whose findings were `before`: findings its
/// remediation should have resolved, or new ones.
fn unresolved(
    id: &str,
    resolves: &Resolves,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) -> Option<String> {
    let still: Vec<&String> = match resolves {
        Resolves::All => after.intersection(before).collect(),
        Resolves::Only(keys) => after.iter().filter(|k| keys.contains(&k.as_str())).collect(),
    };
    let new: Vec<&String> = after.difference(before).collect();
    if still.is_empty() && new.is_empty() {
        return None;
    }
    let mut why = format!("{id}:");
    if !still.is_empty() {
        why.push_str(&format!("\n    still reported: {still:#?}"));
    }
    if !new.is_empty() {
        why.push_str(&format!("\n    new: {new:#?}"));
    }
    Some(why)
}

#[tokio::test]
async fn remediations_resolve_the_findings_of_the_lints_without_a_safe_fix() {
    let url = fixture_database().await;
    let opts = options();
    let before = scan_url(&url, &opts).await.unwrap();
    assert!(before.failed().next().is_none(), "{:?}", before.failed().collect::<Vec<_>>());
    assert_ran(&before, "before remediation");
    // Not vacuous: every covered lint finds something, and 0005 the indexes to be dropped.
    for (id, resolves) in COVERED {
        let found = keys(&before, id);
        assert!(!found.is_empty(), "{id}: no finding on the fixtures before remediation");
        if let Resolves::Only(want) = resolves {
            let missing: Vec<_> = want.iter().filter(|k| !found.contains(**k)).collect();
            assert!(missing.is_empty(), "{id}: not found before remediation: {missing:?}");
        }
    }
    let (preamble, sections) = sections(REMEDIATION);
    assert_eq!(
        sections.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        COVERED.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        "the remediation file has one section per covered lint, in this order"
    );

    // One section at a time, each checked by a scan right after it.
    let mut problems = Vec::new();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(preamble)).execute(&mut conn).await.unwrap();
    for ((id, sql), (_, resolves)) in sections.iter().zip(COVERED) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("the remediation for {id} failed: {e}\n{sql}"));
        let now = scan_url(&url, &opts).await.unwrap();
        if let Some(why) = unresolved(id, resolves, &keys(&before, id), &keys(&now, id)) {
            problems.push(format!("after its own section, {why}"));
        }
    }
    conn.close().await.unwrap();

    // And all of them together: no later section brought an earlier lint's findings back.
    let after = scan_url(&url, &opts).await.unwrap();
    assert!(after.failed().next().is_none(), "{:?}", after.failed().collect::<Vec<_>>());
    assert_ran(&after, "after remediation");
    for (id, resolves) in COVERED {
        let (was, is) = (keys(&before, id), keys(&after, id));
        match unresolved(id, resolves, &was, &is) {
            Some(why) => problems.push(format!("after every section, {why}")),
            None => println!("{id}: {} finding(s) resolved, {} left", was.len() - is.len(), is.len()),
        }
    }
    assert!(
        problems.is_empty(),
        "findings the remediation should have resolved:\n{}",
        problems.join("\n")
    );
}

/// OD06 counts the relations, functions, policies and triggers of the whole database, so a
/// fresh (empty) one: 7,999 functions pass, the 8,000th warns, 10,000 is an error, and
/// dropping back below 8,000 resolves it.
#[tokio::test]
async fn past_8000_objects_od06_warns_then_fails_and_dropping_objects_resolves_it() {
    let url = common::fresh_database().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    // search_path set, so that 0011 does not report each of them.
    let create = |from: u32, to: u32| {
        format!(
            "do $$ begin for i in {from}..{to} loop
               execute format('create function public.od06_%s() returns int language sql immutable set search_path = '''' as ''select %s''', i, i);
             end loop; end $$"
        )
    };
    let od06 = |r: &Report| {
        r.findings
            .iter()
            .filter(|f| f.lint == "OD06_object_count")
            .map(|f| (f.level, f.metadata["count"].as_i64().unwrap_or(-1)))
            .collect::<Vec<_>>()
    };
    let opts = ScanOptions::default();
    sqlx::raw_sql(sqlx::AssertSqlSafe(create(1, 7999))).execute(&mut conn).await.unwrap();
    assert_eq!(od06(&scan_url(&url, &opts).await.unwrap()), vec![], "7,999 objects");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create(8000, 8000))).execute(&mut conn).await.unwrap();
    assert_eq!(od06(&scan_url(&url, &opts).await.unwrap()), vec![(Level::Warn, 8000)]);
    sqlx::raw_sql(sqlx::AssertSqlSafe(create(8001, 10000))).execute(&mut conn).await.unwrap();
    assert_eq!(od06(&scan_url(&url, &opts).await.unwrap()), vec![(Level::Error, 10000)]);
    // The remediation: drop what is not used, a few hundred per transaction (each drop
    // holds a lock until commit, and the lock table is shared with the other tests).
    for from in (8000..=10000).step_by(500) {
        let to = (from + 499).min(10000);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "do $$ begin for i in {from}..{to} loop execute format('drop function public.od06_%s()', i); end loop; end $$"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    assert_eq!(od06(&scan_url(&url, &opts).await.unwrap()), vec![], "7,999 objects again");
    conn.close().await.unwrap();
}
