-- lint: 0010_security_definer_view
-- requires-roles: anon, authenticated
-- requires-exposed: true
-- fix: alter view <schema>.<view> set (security_invoker = on); the view then checks the querying role's privileges and RLS instead of its owner's
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
invoker_option (opt) as (
    select pg_catalog.unnest('{security_invoker=1,security_invoker=true,security_invoker=yes,security_invoker=on}'::text[])
),
definer_view as (
    select ns.nspname, v.relname
    from pg_catalog.pg_class v
    join pg_catalog.pg_namespace ns on ns.oid = v.relnamespace
    where v.relkind = 'v'
      and (
          pg_catalog.has_table_privilege('anon', v.oid, 'SELECT')
          or pg_catalog.has_table_privilege('authenticated', v.oid, 'SELECT')
      )
      -- same (textual) major-version gate as splinter: security_invoker exists from PG 15
      and (pg_catalog.regexp_match(pg_catalog.version(), 'PostgreSQL ([0-9]+)'))[1] >= '15'
      and ns.nspname in (select a.nspname from api_schema a)
      and ns.nspname not in (select s.nspname from system_schema s)
      and v.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
      and not exists (
          select 1
          from pg_catalog.unnest(v.reloptions) as o (opt)
          where pg_catalog.lower(o.opt) in (select io.opt from invoker_option io)
      )
)
select
    'security_definer_view'::text as name,
    'Security Definer View'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects views defined with the SECURITY DEFINER property. These views enforce Postgres permissions and row level security policies (RLS) of the view creator, rather than that of the querying user'::text as description,
    'View \`' || d.nspname || '.' || d.relname || '\` is defined with the SECURITY DEFINER property' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0010_security_definer_view'::text as remediation,
    pg_catalog.jsonb_build_object('schema', d.nspname, 'name', d.relname, 'type', 'view') as metadata,
    'security_definer_view_' || d.nspname || '_' || d.relname as cache_key,
    pg_catalog.format('alter view %I.%I set (security_invoker = on)', d.nspname, d.relname) as fix_sql
from definer_view d
