-- lint: 0007_policy_exists_rls_disabled
-- fix: alter table <schema>.<table> enable row level security; the existing policies then take effect for everyone except the owner and BYPASSRLS roles
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
unenforced as (
    select
        ns.nspname,
        tbl.relname,
        (
            select pg_catalog.array_agg(pol.polname order by pol.polname)
            from pg_catalog.pg_policy pol
            where pol.polrelid = tbl.oid
        ) as policy_names
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind = 'r'
      and not tbl.relrowsecurity
      and ns.nspname not in (select s.nspname from system_schema s)
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
      and exists (select 1 from pg_catalog.pg_policy p where p.polrelid = tbl.oid)
)
select
    'policy_exists_rls_disabled'::text as name,
    'Policy Exists RLS Disabled'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects cases where row level security (RLS) policies have been created, but RLS has not been enabled for the underlying table.'::text as description,
    'Table \`' || u.nspname || '.' || u.relname || '\` has RLS policies but RLS is not enabled on the table. Policies include '
        || u.policy_names::text || '.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0007_policy_exists_rls_disabled'::text as remediation,
    pg_catalog.jsonb_build_object('schema', u.nspname, 'name', u.relname, 'type', 'table') as metadata,
    'policy_exists_rls_disabled_' || u.nspname || '_' || u.relname as cache_key,
    pg_catalog.format('alter table %I.%I enable row level security', u.nspname, u.relname) as fix_sql
from unenforced u
