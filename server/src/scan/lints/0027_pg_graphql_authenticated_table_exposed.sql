-- lint: 0027_pg_graphql_authenticated_table_exposed
-- requires-roles: authenticated
-- requires-extensions: pg_graphql
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
graphql_present as (
    select exists (select 1 from pg_catalog.pg_extension e where e.extname = 'pg_graphql') as installed
),
visible as (
    -- pg_graphql's relkinds; partitioned parents are not exposed, leaf partitions are.
    -- any selectable column counts (table, PUBLIC or column-level grants)
    select
        ns.nspname,
        rel.relname,
        case rel.relkind
            when 'r' then 'table'
            when 'v' then 'view'
            when 'm' then 'materialized view'
            when 'f' then 'foreign table'
        end as object_type
    from pg_catalog.pg_class rel
    join pg_catalog.pg_namespace ns on ns.oid = rel.relnamespace
    cross join graphql_present g
    where g.installed
      and rel.relkind in ('r', 'v', 'm', 'f')
      and ns.nspname not in (select s.nspname from system_schema s)
      and exists (
          select 1
          from pg_catalog.pg_attribute att
          where att.attrelid = rel.oid
            and att.attnum > 0
            and not att.attisdropped
            and pg_catalog.has_column_privilege('authenticated', rel.oid, att.attnum, 'SELECT')
      )
)
select
    'pg_graphql_authenticated_table_exposed'::text as name,
    'Signed-In Users Can See Object in GraphQL Schema'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects tables, views, materialized views, and foreign tables that are visible in the GraphQL schema to signed-in users. Revoke `SELECT` from `authenticated` for objects that signed-in users should not discover, and check lint 0026 for the matching public exposure.'::text as description,
    v.object_type || ' `' || v.nspname || '.' || v.relname || '` is visible in the GraphQL schema to signed-in users because the `authenticated` role can `SELECT` it. Revoke `SELECT` from `authenticated` if it should not be discoverable to every account.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0027_pg_graphql_authenticated_table_exposed'::text as remediation,
    pg_catalog.jsonb_build_object('schema', v.nspname, 'name', v.relname, 'type', v.object_type) as metadata,
    'pg_graphql_authenticated_table_exposed_' || v.nspname || '_' || v.relname as cache_key,
    null::text as fix_sql
from visible v
order by v.nspname, v.relname
