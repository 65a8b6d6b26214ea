//! Gate 2: object count. Counts what the environment database holds outside PostgreSQL's own
//! schemas and compares the total with the project's thresholds (warn 8,000, fail 10,000).
use super::envdb::EnvDb;
use super::{could_not_check, fmt_count, Ctx, Source};
use app::models::{Evidence, GateId, GateResult, GateStatus};

/// One row of counts. Schemas: everything but `pg_catalog`, `information_schema`, `pg_toast*`
/// and temporary schemas. Relations leave out composite types (counted as types); types leave
/// out array types and the row types tables, views and sequences get automatically; triggers
/// leave out the internal ones behind foreign keys.
const COUNTS: &str = "
with ns as (
    select oid from pg_namespace
    where nspname not in ('pg_catalog', 'information_schema')
      and nspname not like 'pg\\_toast%' and nspname not like 'pg\\_temp\\_%'
)
select
    (select count(*) from pg_class c where c.relnamespace in (select oid from ns) and c.relkind <> 'c'),
    (select count(*) from pg_proc p where p.pronamespace in (select oid from ns)),
    (select count(*) from pg_type t left join pg_class r on r.oid = t.typrelid
      where t.typnamespace in (select oid from ns)
        and (t.typrelid = 0 or r.relkind = 'c')
        and not exists (select 1 from pg_type e where e.typarray = t.oid)),
    (select count(*) from pg_constraint k where k.connamespace in (select oid from ns)),
    (select count(*) from pg_trigger g join pg_class c on c.oid = g.tgrelid
      where not g.tgisinternal and c.relnamespace in (select oid from ns)),
    (select count(*) from pg_policy p join pg_class c on c.oid = p.polrelid where c.relnamespace in (select oid from ns)),
    (select count(*) from ns)";

/// The kinds in `COUNTS` order: (catalog, words).
const KINDS: [(&str, &str); 7] = [
    ("pg_class", "relations (tables, indexes, sequences, views)"),
    ("pg_proc", "functions and procedures"),
    ("pg_type", "types (enums, domains, composite types)"),
    ("pg_constraint", "constraints"),
    ("pg_trigger", "triggers"),
    ("pg_policy", "row-level security policies"),
    ("pg_namespace", "schemas"),
];

type Counts = (i64, i64, i64, i64, i64, i64, i64);

pub(super) async fn check(ctx: &mut Ctx<'_>) -> GateResult {
    let gate = GateId::ObjectCount;
    let (warn, fail) = (ctx.settings.objects_warn, ctx.settings.objects_fail);
    let db = match &mut ctx.db {
        Source::Missing => return GateResult::skipped(gate, "no environment database to check"),
        Source::Failed(e) => return could_not_check(gate, "environment database", e.clone()),
        Source::Ready(db) => db,
    };
    let counts = match EnvDb::run(sqlx::query_as::<_, Counts>(COUNTS).fetch_one(&mut db.conn)).await {
        Ok(c) => c,
        Err(e) => return could_not_check(gate, db.at("catalogs"), e),
    };
    let values = [counts.0, counts.1, counts.2, counts.3, counts.4, counts.5, counts.6];
    let total: i64 = values.iter().sum();
    let status = if total >= fail {
        GateStatus::Fail
    } else if total >= warn {
        GateStatus::Warn
    } else {
        GateStatus::Pass
    };
    let mut evidence = vec![Evidence::new(db.at("total"), format!("{} objects (warn at {}, fail at {})", fmt_count(total), fmt_count(warn), fmt_count(fail)))];
    evidence.extend(KINDS.iter().zip(values).map(|((catalog, words), n)| Evidence::new(db.at(catalog), format!("{} {words}", fmt_count(n)))));
    let summary = match status {
        GateStatus::Pass => format!("{} objects in the database (warns at {})", fmt_count(total), fmt_count(warn)),
        GateStatus::Warn => format!("{} objects in the database (fails at {})", fmt_count(total), fmt_count(fail)),
        _ => format!("{} objects in the database (limit {})", fmt_count(total), fmt_count(fail)),
    };
    if status == GateStatus::Pass {
        return GateResult::new(
            gate,
            status,
            summary,
            "The environment database holds a normal number of tables, indexes, functions and other objects.",
            "",
            evidence,
        );
    }
    GateResult::new(
        gate,
        status,
        summary,
        "Every table, index, sequence, view, function and constraint is a row in PostgreSQL's catalogs. Past several thousand of them, \
         backups and restores slow down (pg_dump locks every table), upgrades take much longer, Odoo's registry loads slowly on every worker start, \
         and hosted platforms refuse databases over their limit. Large counts usually come from many installed modules, tables created per company \
         or per period, or tables and views left behind by uninstalled modules and one-off imports.",
        format!(
            "Look at the largest schemas and the tables no installed module owns (tables without an ir_model entry), drop what is left over from \
             uninstalled modules or imports, uninstall modules nobody uses, and avoid creating tables per customer or per period. If this size is \
             expected, an admin can raise the thresholds (now {} and {}) in the project's gate settings.",
            fmt_count(warn),
            fmt_count(fail)
        ),
        evidence,
    )
}
