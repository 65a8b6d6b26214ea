-- lint: 0016_materialized_view_in_api
-- requires-roles: anon, authenticated
-- requires-exposed: true
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
readable as (
    select ns.nspname, rel.relname
    from pg_catalog.pg_class rel
    join pg_catalog.pg_namespace ns on ns.oid = rel.relnamespace
    where rel.relkind = 'm'
      and (
          pg_catalog.has_table_privilege('anon', rel.oid, 'SELECT')
          or pg_catalog.has_table_privilege('authenticated', rel.oid, 'SELECT')
      )
      and ns.nspname in (select a.nspname from api_schema a)
      and ns.nspname not in (select s.nspname from system_schema s)
      and rel.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
)
select
    'materialized_view_in_api'::text as name,
    'Materialized View in API'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects materialized views that are accessible over the Data APIs.'::text as description,
    'Materialized view \`' || r.nspname || '.' || r.relname || '\` is selectable by anon or authenticated roles' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0016_materialized_view_in_api'::text as remediation,
    pg_catalog.jsonb_build_object('schema', r.nspname, 'name', r.relname, 'type', 'materialized view') as metadata,
    'materialized_view_in_api_' || r.nspname || '_' || r.relname as cache_key,
    null::text as fix_sql
from readable r
