//! `POST /v1/projects/{ref}/database/query`: `{"query": "...", "read_only": bool}` → the
//! rows of the last statement as JSON objects.
//!
//! Read-only (the default here) means one statement, in a `read only` transaction with a
//! statement timeout, rolled back. One statement only, checked by preparing it first: a
//! multi-statement string could `commit` the read-only transaction and write in the next.
//! With `read_only: false` (the proxy lets only admins send it) several statements may run,
//! in one transaction that commits. Either way the connection is wiped when it goes back.
use super::{json_text, short, ApiError, Local, Target};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use futures::TryStreamExt;
use serde::Deserialize;
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{Column, Connection, Either, Executor, Row, SqlSafeStr, TypeInfo, ValueRef};

/// Rows kept from one query; more is an error rather than a browser tab out of memory.
const MAX_ROWS: usize = 10_000;

#[derive(Debug, Deserialize)]
pub struct QueryBody {
    query: String,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(default)]
    parameters: Option<Vec<serde_json::Value>>,
}

pub async fn run(t: Target, State(l): State<Local>, body: Result<axum::Json<QueryBody>, JsonRejection>) -> Result<Response, ApiError> {
    let axum::Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if body.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::bad_request("query parameters are not supported by the local API"));
    }
    if body.query.trim().is_empty() {
        return Err(ApiError::bad_request("the query is empty"));
    }
    let read_only = body.read_only.unwrap_or(true);
    let rows = execute(&t, &body.query, read_only, l.sb.query_timeout).await?;
    Ok(json_text(StatusCode::CREATED, rows))
}

async fn execute(t: &Target, sql: &str, read_only: bool, timeout: std::time::Duration) -> Result<String, ApiError> {
    let mut conn = t.pool.acquire().await.map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot reach the project's database: {}", short(&e))))?;
    let mut tx = conn.begin().await.map_err(ApiError::internal)?;
    if read_only {
        sqlx::query("set transaction read only").execute(&mut *tx).await.map_err(ApiError::internal)?;
    }
    // This select takes the transaction's snapshot: from here on `set transaction read
    // write` is refused.
    sqlx::query("select set_config('statement_timeout', $1, true)").bind(timeout.as_millis().to_string()).execute(&mut *tx).await.map_err(ApiError::internal)?;
    if read_only {
        if let Err(e) = (&mut *tx).prepare(sqlx::AssertSqlSafe(sql.to_string()).into_sql_str()).await {
            return Err(ApiError::bad_request(refusal(&e)));
        }
    }
    let mut last = Vec::new();
    let mut current = Vec::new();
    {
        let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).fetch_many(&mut *tx);
        loop {
            match results.try_next().await {
                Ok(Some(Either::Right(row))) => {
                    if current.len() >= MAX_ROWS {
                        return Err(ApiError::bad_request(format!("the query returned more than {MAX_ROWS} rows; add a limit")));
                    }
                    current.push(row_json(&row));
                }
                Ok(Some(Either::Left(_))) => last = std::mem::take(&mut current),
                Ok(None) => break,
                Err(e) => return Err(ApiError::bad_request(refusal(&e))),
            }
        }
    }
    if !current.is_empty() {
        last = current;
    }
    let done = if read_only { tx.rollback().await } else { tx.commit().await };
    done.map_err(|e| ApiError::bad_request(short(&e)))?;
    Ok(format!("[{}]", last.join(",")))
}

/// The error a person reads; a write in read-only mode says so plainly.
fn refusal(e: &sqlx::Error) -> String {
    if let sqlx::Error::Database(d) = e {
        match d.code().as_deref() {
            Some("25006") => return format!("this query writes, and the editor runs read-only ({})", d.message()),
            Some("42601") if d.message().contains("multiple commands") => {
                return "the read-only editor runs one statement at a time".into();
            }
            Some("57014") => return "the query took longer than the statement timeout".into(),
            _ => {}
        }
    }
    short(e)
}

/// One row as a JSON object, columns in their order (the simple protocol gives text values).
fn row_json(row: &PgRow) -> String {
    let mut out = String::from("{");
    for (i, col) in row.columns().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::String(col.name().to_string()).to_string());
        out.push(':');
        let value = row.try_get_raw(i).ok().filter(|v| !v.is_null() && v.format() == PgValueFormat::Text).and_then(|v| v.as_str().ok().map(str::to_string));
        out.push_str(&value.map(|v| text_json(col.type_info().name(), &v)).unwrap_or_else(|| "null".into()));
    }
    out.push('}');
    out
}

/// A text value as JSON by its type: numbers, booleans and json as such, the rest strings.
fn text_json(type_name: &str, v: &str) -> String {
    let string = || serde_json::Value::String(v.to_string()).to_string();
    match type_name {
        "BOOL" => if v == "t" { "true".into() } else { "false".into() },
        "INT2" | "INT4" | "INT8" | "OID" => v.parse::<i64>().map(|n| n.to_string()).unwrap_or_else(|_| string()),
        "FLOAT4" | "FLOAT8" => v.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(|f| serde_json::Number::from_f64(f)).map(|n| n.to_string()).unwrap_or_else(string),
        "JSON" | "JSONB" => serde_json::from_str::<serde_json::Value>(v).map(|j| j.to_string()).unwrap_or_else(|_| string()),
        _ => string(),
    }
}

#[cfg(test)]
mod tests {
    use super::text_json;

    #[test]
    fn text_values_become_json_by_type() {
        assert_eq!(text_json("BOOL", "t"), "true");
        assert_eq!(text_json("INT8", "42"), "42");
        assert_eq!(text_json("FLOAT8", "NaN"), "\"NaN\"");
        assert_eq!(text_json("JSONB", r#"{"a": 1}"#), r#"{"a":1}"#);
        assert_eq!(text_json("NUMERIC", "1.50"), "\"1.50\"");
        assert_eq!(text_json("TEXT", "say \"hi\""), r#""say \"hi\"""#);
    }
}
