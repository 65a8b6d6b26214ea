-- lint: OD04_missing_timestamps
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
user_table as (
    -- ordinary and partitioned tables; partitions are skipped (their parent is reported)
    select tbl.oid, ns.nspname, tbl.relname
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind in ('r', 'p')
      and not tbl.relispartition
      and ns.nspname not in (select s.nspname from system_schema s)
      and ns.nspname not like 'pg\_toast%'
      and ns.nspname not like 'pg\_temp\_%'
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
),
missing as (
    select
        ut.nspname,
        ut.relname,
        (
            select pg_catalog.array_agg(want.col order by want.pos)
            from (values (1, 'created_at'), (2, 'updated_at')) as want (pos, col)
            where not exists (
                select 1 from pg_catalog.pg_attribute att
                where att.attrelid = ut.oid
                  and att.attname = want.col
                  and att.attnum > 0
                  and not att.attisdropped
            )
        ) as columns
    from user_table ut
)
select
    'OD04_missing_timestamps'::text as name,
    'Table without created_at/updated_at'::text as title,
    'INFO'::text as level,
    'EXTERNAL'::text as facing,
    array['MAINTAINABILITY']::text[] as categories,
    'Finds tables that lack a created_at or an updated_at column. Without them it is hard to tell when rows were added or last changed, which makes audits, debugging and incremental exports harder.'::text as description,
    'Table `' || m.nspname || '.' || m.relname || '` has no ' || pg_catalog.array_to_string(m.columns, ' and no ')
        || ' column.' as detail,
    'Add the missing timestamptz column(s) with a default of now(), and keep updated_at current with a trigger or in application code.'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', m.nspname,
        'name', m.relname,
        'type', 'table',
        'missing_columns', m.columns
    ) as metadata,
    'od04_missing_timestamps_' || m.nspname || '_' || m.relname as cache_key,
    null::text as fix_sql
from missing m
where m.columns is not null
order by m.nspname, m.relname
