-- lint: 0029_authenticated_security_definer_function_executable
-- requires-roles: authenticated
-- requires-exposed: true
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
callable as (
    -- EXECUTE is granted to PUBLIC by default, so any SECURITY DEFINER function
    -- fires unless EXECUTE was revoked; no prokind or extension filter
    select
        ns.nspname,
        fn.proname,
        pg_catalog.pg_get_function_identity_arguments(fn.oid) as args,
        lang.lanname
    from pg_catalog.pg_proc fn
    join pg_catalog.pg_namespace ns on ns.oid = fn.pronamespace
    join pg_catalog.pg_language lang on lang.oid = fn.prolang
    where fn.prosecdef
      and pg_catalog.has_function_privilege('authenticated', fn.oid, 'EXECUTE')
      and ns.nspname in (select a.nspname from api_schema a)
      and ns.nspname not in (select s.nspname from system_schema s)
)
select
    'authenticated_security_definer_function_executable'::text as name,
    'Signed-In Users Can Execute SECURITY DEFINER Function'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects `SECURITY DEFINER` functions that are callable by signed-in users. Revoke `EXECUTE`, switch the function to `SECURITY INVOKER`, or move it out of your exposed API schema if signed-in users should not call it.'::text as description,
    'Function `' || c.nspname || '.' || c.proname || '(' || c.args || ')` can be executed by the `authenticated` role as a `SECURITY DEFINER` function via `/rest/v1/rpc/'
        || c.proname || '`. Revoke `EXECUTE` or switch it to `SECURITY INVOKER` if that is not intentional.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0029_authenticated_security_definer_function_executable'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', c.nspname,
        'name', c.proname,
        'arguments', c.args,
        'language', c.lanname,
        'security_definer', true
    ) as metadata,
    'authenticated_security_definer_function_executable_' || c.nspname || '_' || c.proname || '_' || c.args as cache_key,
    null::text as fix_sql
from callable c
order by c.nspname, c.proname, c.args
