-- lint: 0011_function_search_path_mutable
-- fix: alter function|procedure <schema>.<name>(<identity args>) set search_path = ''; review first: code that relies on unqualified names must then schema-qualify them; NULL for aggregates
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
mutable_path as (
    -- every pg_proc kind (functions, procedures, aggregates, window functions)
    select ns.nspname, fn.proname, fn.prosrc, fn.prokind,
           pg_catalog.pg_get_function_identity_arguments(fn.oid) as identity_args
    from pg_catalog.pg_proc fn
    join pg_catalog.pg_namespace ns on ns.oid = fn.pronamespace
    where ns.nspname not in (select s.nspname from system_schema s)
      and fn.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
      and not exists (
          select 1
          from pg_catalog.unnest(fn.proconfig) as cfg (setting)
          where cfg.setting like 'search_path=%'
      )
)
select
    'function_search_path_mutable'::text as name,
    'Function Search Path Mutable'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects functions where the search_path parameter is not set.'::text as description,
    'Function \`' || m.nspname || '.' || m.proname || '\` has a role mutable search_path' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0011_function_search_path_mutable'::text as remediation,
    pg_catalog.jsonb_build_object('schema', m.nspname, 'name', m.proname, 'type', 'function') as metadata,
    -- md5 of the body separates overloads (identical bodies still collide)
    'function_search_path_mutable_' || m.nspname || '_' || m.proname || '_' || pg_catalog.md5(m.prosrc) as cache_key,
    case m.prokind
        when 'a' then null
        else pg_catalog.format(
            'alter %s %I.%I(%s) set search_path = %L',
            case m.prokind when 'p' then 'procedure' else 'function' end,
            m.nspname, m.proname, m.identity_args, ''
        )
    end as fix_sql
from mutable_path m
