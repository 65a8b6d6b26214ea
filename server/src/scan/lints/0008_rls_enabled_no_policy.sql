-- lint: 0008_rls_enabled_no_policy
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
locked_out as (
    select ns.nspname, tbl.relname
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind = 'r'
      and tbl.relrowsecurity
      and ns.nspname not in (select s.nspname from system_schema s)
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
      and not exists (select 1 from pg_catalog.pg_policy p where p.polrelid = tbl.oid)
)
select
    'rls_enabled_no_policy'::text as name,
    'RLS Enabled No Policy'::text as title,
    'INFO'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects cases where row level security (RLS) has been enabled on a table but no RLS policies have been created.'::text as description,
    'Table \`' || l.nspname || '.' || l.relname || '\` has RLS enabled, but no policies exist' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0008_rls_enabled_no_policy'::text as remediation,
    pg_catalog.jsonb_build_object('schema', l.nspname, 'name', l.relname, 'type', 'table') as metadata,
    'rls_enabled_no_policy_' || l.nspname || '_' || l.relname as cache_key,
    null::text as fix_sql
from locked_out l
