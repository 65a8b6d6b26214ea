-- lint: OD03_security_definer_without_justification
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
definer_fn as (
    select
        ns.nspname,
        fn.proname,
        fn.prokind,
        pg_catalog.pg_get_function_identity_arguments(fn.oid) as args,
        pg_catalog.obj_description(fn.oid, 'pg_proc') as note
    from pg_catalog.pg_proc fn
    join pg_catalog.pg_namespace ns on ns.oid = fn.pronamespace
    where fn.prosecdef
      and ns.nspname not in (select s.nspname from system_schema s)
      and ns.nspname not like 'pg\_toast%'
      and ns.nspname not like 'pg\_temp\_%'
      and fn.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
)
select
    'OD03_security_definer_without_justification'::text as name,
    'SECURITY DEFINER function without a justification comment'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Finds SECURITY DEFINER functions that carry no comment. These functions run with their owner''s privileges and bypass the caller''s row level security, so each one should say why it needs that.'::text as description,
    case d.prokind when 'p' then 'Procedure' else 'Function' end || ' `' || d.nspname || '.' || d.proname || '(' || d.args
        || ')` is SECURITY DEFINER but has no comment explaining why it needs its owner''s privileges.' as detail,
    'Add COMMENT ON FUNCTION with the reason it must run as its owner, or switch it to SECURITY INVOKER if it does not need elevated privileges.'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', d.nspname,
        'name', d.proname,
        'type', case d.prokind when 'p' then 'procedure' else 'function' end,
        'arguments', d.args,
        'comment', d.note
    ) as metadata,
    'od03_security_definer_without_justification_' || d.nspname || '_' || d.proname || '(' || d.args || ')' as cache_key,
    null::text as fix_sql
from definer_fn d
where coalesce(pg_catalog.btrim(d.note, E' \t\r\n'), '') = ''
order by d.nspname, d.proname, d.args
