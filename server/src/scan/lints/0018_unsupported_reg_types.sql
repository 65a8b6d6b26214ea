-- lint: 0018_unsupported_reg_types
with
blocked_type as (
    -- reg* types pg_upgrade cannot carry over (regclass, regtype, regrole are fine)
    select t.oid, t.typname
    from pg_catalog.pg_type t
    where t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
      and t.typname in ('regcollation', 'regconfig', 'regdictionary', 'regnamespace',
                        'regoper', 'regoperator', 'regproc', 'regprocedure')
),
offending_column as (
    -- any relation kind (views, composite types, indexes too), all called "Table"
    select ns.nspname, rel.relname, att.attname, bt.typname
    from pg_catalog.pg_attribute att
    join blocked_type bt on bt.oid = att.atttypid
    join pg_catalog.pg_class rel on rel.oid = att.attrelid
    join pg_catalog.pg_namespace ns on ns.oid = rel.relnamespace
    where ns.nspname not in ('pg_catalog', 'information_schema', 'pgsodium')
)
select
    'unsupported_reg_types'::text as name,
    'Unsupported reg types'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Identifies columns using unsupported reg* types outside pg_catalog schema, which prevents database upgrades using pg_upgrade.'::text as description,
    'Table \`' || oc.nspname || '.' || oc.relname || '\` has a column \`' || oc.attname
        || '\` with unsupported reg* type \`' || oc.typname || '\`.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=unsupported_reg_types'::text as remediation,
    pg_catalog.jsonb_build_object('schema', oc.nspname, 'name', oc.relname, 'column', oc.attname, 'type', 'table') as metadata,
    'unsupported_reg_types_' || oc.nspname || '_' || oc.relname || '_' || oc.attname as cache_key,
    null::text as fix_sql
from offending_column oc
