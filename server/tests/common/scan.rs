//! The scanner's fixture database: Supabase-like pieces and, for every lint and rule, an
//! offending object and a look-alike that must not be reported.
use sqlx::{Connection, PgConnection};

pub const FIXTURES: &str = include_str!("../fixtures/scan.sql");

/// The fixtures create cluster-wide roles when missing; two tests doing it at once on a
/// fresh cluster would collide, so they load one at a time.
static LOADING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh database with the fixtures loaded; returns its owner URL.
pub async fn fixture_database() -> String {
    let url = super::fresh_database().await;
    let _one_at_a_time = LOADING.lock().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(FIXTURES))
        .execute(&mut conn)
        .await
        .expect("fixtures load");
    conn.close().await.unwrap();
    url
}
