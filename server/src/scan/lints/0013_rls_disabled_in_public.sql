-- lint: 0013_rls_disabled_in_public
-- requires-roles: anon, authenticated
-- requires-exposed: true
-- fix: alter table <schema>.<table> enable row level security; safe default: with no policies anon/authenticated then see and change no rows (owner and BYPASSRLS roles are unaffected) until policies are added
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
open_table as (
    -- no extension-member filter here (as in splinter)
    select ns.nspname, tbl.relname
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind = 'r'
      and not tbl.relrowsecurity
      and (
          pg_catalog.has_table_privilege('anon', tbl.oid, 'SELECT')
          or pg_catalog.has_table_privilege('authenticated', tbl.oid, 'SELECT')
      )
      and ns.nspname in (select a.nspname from api_schema a)
      and ns.nspname not in (select s.nspname from system_schema s)
)
select
    'rls_disabled_in_public'::text as name,
    'RLS Disabled in Public'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects cases where row level security (RLS) has not been enabled on tables in schemas exposed to PostgREST'::text as description,
    'Table \`' || o.nspname || '.' || o.relname || '\` is public, but RLS has not been enabled.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0013_rls_disabled_in_public'::text as remediation,
    pg_catalog.jsonb_build_object('schema', o.nspname, 'name', o.relname, 'type', 'table') as metadata,
    'rls_disabled_in_public_' || o.nspname || '_' || o.relname as cache_key,
    pg_catalog.format('alter table %I.%I enable row level security', o.nspname, o.relname) as fix_sql
from open_table o
