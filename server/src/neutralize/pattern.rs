//! Column-pattern rules: blank every text-like column whose name matches, in one table or in
//! every non-system table of the database.
use super::{resolve_table, Step};
use anyhow::Result;
use app::models::sqlcheck::{self, quote_ident};
use app::models::{NeutralizeReport, NeutralizeRule};
use sqlx::PgConnection;

#[derive(sqlx::FromRow)]
struct Column {
    schema: String,
    table: String,
    column: String,
    /// Base type: text, varchar, bpchar, json, jsonb or bytea.
    ty: String,
    not_null: bool,
    /// Part of a unique index: blanking a NOT NULL one would collide.
    in_unique: bool,
}

/// Ordinary and partitioned tables (not partitions: their parent covers them), outside the
/// system schemas, whose column name matches the rule's regex (PostgreSQL dialect, `~*`).
const COLUMNS: &str = "
select n.nspname::text as schema, c.relname::text as table, a.attname::text as column, bt.typname::text as ty,
       a.attnotnull as not_null,
       exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisunique and a.attnum = any(i.indkey)) as in_unique
  from pg_attribute a
  join pg_class c on c.oid = a.attrelid
  join pg_namespace n on n.oid = c.relnamespace
  join pg_type t on t.oid = a.atttypid
  join pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
 where c.relkind in ('r', 'p') and not c.relispartition
   and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
   and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
   and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%'
   and bt.typname in ('text', 'varchar', 'bpchar', 'json', 'jsonb', 'bytea')
   and a.attname ~* $1
   and ($2::regclass is null or c.oid = $2::regclass)
 order by 1, 2, 3";

/// `new value` and `rows that hold something` for a column.
fn blanking(c: &Column) -> (&'static str, &'static str) {
    let has_value = match c.ty.as_str() {
        "bytea" => "length(%) > 0",
        "json" => "%::text not in ('{}', '\"\"', 'null')",
        "jsonb" => "% not in ('{}'::jsonb, '\"\"'::jsonb, 'null'::jsonb)",
        _ => "% <> ''",
    };
    let empty = match c.ty.as_str() {
        _ if !c.not_null => "null",
        "bytea" => "''::bytea",
        "json" => "'{}'::json",
        "jsonb" => "'{}'::jsonb",
        _ => "''",
    };
    (empty, has_value)
}

fn display(c: &Column) -> String {
    if c.schema == "public" {
        format!("{}.{}", c.table, c.column)
    } else {
        format!("{}.{}.{}", c.schema, c.table, c.column)
    }
}

pub(super) async fn blank_columns(conn: &mut PgConnection, rule: &NeutralizeRule, report: &mut NeutralizeReport) -> Result<Step> {
    let scope = if rule.table_name.is_empty() {
        None
    } else {
        match resolve_table(conn, &rule.table_name, report).await? {
            Some(quoted) => Some(quoted),
            None => return Ok(Step::skipped(format!("table {} not present", rule.table_name))),
        }
    };
    let exclusions = sqlcheck::exclusions(&rule.exclude).map_err(anyhow::Error::msg)?;
    let columns: Vec<Column> = sqlx::query_as(COLUMNS).bind(&rule.column_pattern).bind(scope).fetch_all(&mut *conn).await?;
    let (mut rows, mut blanked, mut clean, mut kept) = (0i64, Vec::new(), 0usize, Vec::new());
    for c in &columns {
        if exclusions.iter().any(|e| e.matches(&c.schema, &c.table, &c.column)) {
            kept.push(format!("{} (excluded)", display(c)));
            continue;
        }
        if c.not_null && c.in_unique {
            kept.push(format!("{} (not null and unique)", display(c)));
            continue;
        }
        let (empty, has_value) = blanking(c);
        let col = quote_ident(&c.column);
        let sql = format!(
            "update {}.{} set {col} = {empty} where {col} is not null and {}",
            quote_ident(&c.schema),
            quote_ident(&c.table),
            has_value.replace('%', &col)
        );
        let n = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?.rows_affected() as i64;
        if n > 0 {
            rows += n;
            blanked.push(format!("{} ({n})", display(c)));
        } else {
            clean += 1;
        }
    }
    report.columns_blanked += blanked.len() as i64;
    let mut detail = if columns.is_empty() {
        "no matching column".to_string()
    } else if blanked.is_empty() {
        format!("{} matching column{}, none held a value", columns.len() - kept.len(), if columns.len() - kept.len() == 1 { "" } else { "s" })
    } else {
        let mut d = format!("blanked {}", blanked.join(", "));
        if clean > 0 {
            d.push_str(&format!("; {clean} more matching column{} already empty", if clean == 1 { "" } else { "s" }));
        }
        d
    };
    if !kept.is_empty() {
        detail.push_str(&format!("; kept {}", kept.join(", ")));
    }
    if detail.chars().count() > 2000 {
        detail = detail.chars().take(1990).collect::<String>() + " …";
    }
    Ok(Step::applied(rows, detail))
}
