-- lint: 0001_unindexed_foreign_keys
-- fix: create index if not exists <table>_<fk columns>_fkey_idx on <schema>.<table> (<fk columns in constraint order>); plain btree build (not CONCURRENTLY), holds a SHARE lock on the table while it builds; name is cut to 63 bytes with an md5 suffix when too long
with
system_schema (nspname) as (
    -- splinter's first stage also skips pg_catalog, information_schema, auth,
    -- storage, vault and extensions; all of them are in this list already
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
fkey as (
    select
        con.conname,
        con.conrelid,
        con.conkey,
        tbl.relname,
        ns.nspname,
        -- regnamespace text is identifier-quoted when needed ("My Schema")
        tbl.relnamespace::pg_catalog.regnamespace::text as schema_label
    from pg_catalog.pg_constraint con
    join pg_catalog.pg_class tbl on tbl.oid = con.conrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where con.contype = 'f'
      and tbl.relnamespace::pg_catalog.regnamespace::text not in (select s.nspname from system_schema s)
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
),
uncovered as (
    -- covered = some valid index on the table whose leading key columns are
    -- exactly the FK columns, in the same order (partial indexes count)
    select f.*
    from fkey f
    where not exists (
        select 1
        from pg_catalog.pg_index ix
        where ix.indrelid = f.conrelid
          and ix.indisvalid
          and (
              select pg_catalog.array_agg(k.attnum order by k.pos)
              from pg_catalog.unnest(ix.indkey) with ordinality as k (attnum, pos)
              where k.pos <= pg_catalog.cardinality(f.conkey)
          ) = f.conkey
    )
),
fix_parts as (
    select
        u.*,
        (
            select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by k.pos)
            from pg_catalog.unnest(u.conkey) with ordinality as k (attnum, pos)
            join pg_catalog.pg_attribute a on a.attrelid = u.conrelid and a.attnum = k.attnum
        ) as column_list,
        u.relname || '_' || (
            select pg_catalog.string_agg(a.attname, '_' order by k.pos)
            from pg_catalog.unnest(u.conkey) with ordinality as k (attnum, pos)
            join pg_catalog.pg_attribute a on a.attrelid = u.conrelid and a.attnum = k.attnum
        ) || '_fkey_idx' as wanted_name
    from uncovered u
),
named as (
    select
        fp.*,
        case
            when pg_catalog.octet_length(fp.wanted_name) <= 63 then fp.wanted_name
            else (
                -- longest character prefix that fits in 54 bytes, then _<8 hex>
                select pg_catalog.left(fp.wanted_name, n)
                from pg_catalog.generate_series(pg_catalog.length(fp.wanted_name), 1, -1) as n
                where pg_catalog.octet_length(pg_catalog.left(fp.wanted_name, n)) <= 54
                limit 1
            ) || '_' || pg_catalog.left(pg_catalog.md5(fp.wanted_name), 8)
        end as index_name
    from fix_parts fp
)
select
    'unindexed_foreign_keys'::text as name,
    'Unindexed foreign keys'::text as title,
    'INFO'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Identifies foreign key constraints without a covering index, which can impact database performance.'::text as description,
    'Table \`' || x.schema_label || '.' || x.relname || '\` has a foreign key \`' || x.conname
        || '\` without a covering index. This can lead to suboptimal query performance.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0001_unindexed_foreign_keys'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', x.schema_label,
        'name', x.relname,
        'type', 'table',
        'fkey_name', x.conname,
        'fkey_columns', x.conkey
    ) as metadata,
    'unindexed_foreign_keys_' || x.schema_label || '_' || x.relname || '_' || x.conname as cache_key,
    pg_catalog.format(
        'create index if not exists %I on %I.%I (%s)',
        x.index_name, x.nspname, x.relname, x.column_list
    ) as fix_sql
from named x
order by x.schema_label, x.relname, x.conname
