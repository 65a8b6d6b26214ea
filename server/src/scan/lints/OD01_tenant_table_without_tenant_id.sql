-- lint: OD01_tenant_table_without_tenant_id
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
user_table as (
    -- ordinary and partitioned tables in non-system schemas, not owned by an extension;
    -- "non-system" = not in the standard splinter list, not pg_toast*, not pg_temp_*
    select
        tbl.oid,
        ns.nspname,
        tbl.relname,
        tbl.relrowsecurity,
        exists (
            select 1 from pg_catalog.pg_attribute att
            where att.attrelid = tbl.oid
              and att.attname = 'tenant_id'
              and att.attnum > 0
              and not att.attisdropped
        ) as has_tenant_id
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind in ('r', 'p')
      and ns.nspname not in (select s.nspname from system_schema s)
      and ns.nspname not like 'pg\_toast%'
      and ns.nspname not like 'pg\_temp\_%'
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
),
tenant_schema as (
    select ut.nspname, pg_catalog.array_agg(ut.relname order by ut.relname) as tenant_tables
    from user_table ut
    where ut.has_tenant_id
    group by ut.nspname
),
finding as (
    select ut.nspname, ut.relname, ts.tenant_tables
    from user_table ut
    join tenant_schema ts on ts.nspname = ut.nspname
    where ut.relrowsecurity
      and not ut.has_tenant_id
)
select
    'OD01_tenant_table_without_tenant_id'::text as name,
    'Tenant-scoped table without tenant_id'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Finds tables that have row level security switched on but no tenant_id column, while other tables in the same schema are split by tenant_id. Such a table cannot be filtered per tenant, so its policies may let one tenant read or change rows that belong to another.'::text as description,
    'Table `' || f.nspname || '.' || f.relname || '` has row level security enabled but no tenant_id column, while '
        || pg_catalog.cardinality(f.tenant_tables)::text || ' other table(s) in schema `' || f.nspname
        || '` have one (' || pg_catalog.array_to_string(f.tenant_tables[1:5], ', ')
        || case when pg_catalog.cardinality(f.tenant_tables) > 5 then ', ...' else '' end || ').' as detail,
    'Add a tenant_id column and make the table''s policies filter on it, or move the table out of the tenant-scoped schema if it is meant to be shared by all tenants.'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', f.nspname,
        'name', f.relname,
        'type', 'table',
        'tenant_scoped_tables', pg_catalog.cardinality(f.tenant_tables)
    ) as metadata,
    'od01_tenant_table_without_tenant_id_' || f.nspname || '_' || f.relname as cache_key,
    null::text as fix_sql
from finding f
order by f.nspname, f.relname
