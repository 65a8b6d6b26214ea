-- lint: 0009_duplicate_index
-- fix: drop index if exists <all indexes of the group but one>; keeps the one index that backs a constraint (PK/UNIQUE/EXCLUDE/referenced by an FK), is attached to a partitioned parent index or is the replica identity, otherwise the first name in sort order; NULL when two or more indexes of the group are pinned like that
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
index_shape as (
    select
        ns.nspname,
        tbl.relname as table_name,
        tbl.relkind,
        idx.relname as index_name,
        -- the definition with every occurrence of the index's own name removed
        pg_catalog.replace(pg_catalog.pg_get_indexdef(idx.oid), idx.relname, '') as shape,
        (
            exists (select 1 from pg_catalog.pg_constraint c where c.conindid = idx.oid)
            or exists (select 1 from pg_catalog.pg_inherits h where h.inhrelid = idx.oid)
            or ix.indisreplident
        ) as pinned
    from pg_catalog.pg_index ix
    join pg_catalog.pg_class tbl on tbl.oid = ix.indrelid
    join pg_catalog.pg_class idx on idx.oid = ix.indexrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind in ('r', 'm')
      and idx.relkind in ('i', 'I')
      and ns.nspname not in (select s.nspname from system_schema s)
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
),
ranked as (
    select
        i.*,
        pg_catalog.count(*) over w as copies,
        pg_catalog.count(*) filter (where i.pinned) over w as pinned_copies,
        pg_catalog.row_number() over (w order by i.pinned desc, i.index_name) as keep_rank
    from index_shape i
    window w as (partition by i.nspname, i.relkind, i.table_name, i.shape)
),
dup_group as (
    select
        r.nspname,
        r.table_name,
        r.relkind,
        pg_catalog.array_agg(r.index_name order by r.index_name) as index_names,
        pg_catalog.max(r.pinned_copies) as pinned_copies,
        pg_catalog.string_agg(pg_catalog.format('%I.%I', r.nspname, r.index_name), ', ' order by r.index_name)
            filter (where r.keep_rank > 1) as droppable
    from ranked r
    where r.copies > 1
    group by r.nspname, r.relkind, r.table_name, r.shape
)
select
    'duplicate_index'::text as name,
    'Duplicate Index'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Detects cases where two ore more identical indexes exist.'::text as description,
    'Table \`' || d.nspname || '.' || d.table_name || '\` has identical indexes ' || d.index_names::text
        || '. Drop all except one of them' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0009_duplicate_index'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', d.nspname,
        'name', d.table_name,
        'type', case d.relkind when 'r' then 'table' when 'm' then 'materialized view' else 'ERROR' end,
        'indexes', d.index_names
    ) as metadata,
    'duplicate_index_' || d.nspname || '_' || d.table_name || '_' || d.index_names::text as cache_key,
    case when d.pinned_copies <= 1 then 'drop index if exists ' || d.droppable end as fix_sql
from dup_group d
