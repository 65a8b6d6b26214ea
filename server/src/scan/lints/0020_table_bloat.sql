-- lint: 0020_table_bloat
with
page_const as (
    -- block size, heap tuple header size, max alignment
    select pg_catalog.current_setting('block_size')::numeric as bs, 23 as hdr, 4 as ma
),
column_stats as (
    select
        st.schemaname,
        st.tablename,
        pg_catalog.sum((1 - st.null_frac) * st.avg_width) as datawidth,
        pg_catalog.max(st.null_frac) as maxfracsum,
        pg_catalog.count(*) filter (where st.null_frac <> 0) as nullable_columns
    from pg_catalog.pg_stats st
    group by st.schemaname, st.tablename
),
row_shape as (
    select
        cs.schemaname,
        cs.tablename,
        pc.bs,
        pc.ma,
        (cs.datawidth + (pc.hdr + pc.ma - (case when pc.hdr % pc.ma = 0 then pc.ma else pc.hdr % pc.ma end)))::numeric as datahdr,
        cs.maxfracsum * (nh.nullhdr + pc.ma - (case when nh.nullhdr % pc.ma = 0 then pc.ma else nh.nullhdr % pc.ma end)) as nullhdr2
    from column_stats cs
    cross join page_const pc
    cross join lateral (select pc.hdr + (1 + cs.nullable_columns / 8) as nullhdr) nh
),
expected_pages as (
    select
        rs.schemaname,
        rs.tablename,
        rel.relpages,
        rs.bs,
        pg_catalog.ceil(
            (rel.reltuples * ((rs.datahdr + rs.ma - (case when rs.datahdr % rs.ma = 0 then rs.ma else rs.datahdr % rs.ma end)) + rs.nullhdr2 + 4))
            / (rs.bs - 20::float)
        ) as otta
    from row_shape rs
    join pg_catalog.pg_class rel on rel.relname = rs.tablename
    join pg_catalog.pg_namespace ns
        on ns.oid = rel.relnamespace
       and ns.nspname = rs.schemaname
       and ns.nspname <> 'information_schema'
    where rel.relkind = 'r'
      and rel.relam = (select am.oid from pg_catalog.pg_am am where am.amname = 'heap')
),
bloat as (
    select
        ep.schemaname,
        ep.tablename,
        pg_catalog.round(case when ep.otta = 0 then 0.0 else ep.relpages / ep.otta::numeric end, 1) as ratio,
        case when ep.relpages < ep.otta then 0 else (ep.bs * (ep.relpages - ep.otta)::bigint)::bigint end as wasted_bytes
    from expected_pages ep
)
select
    'table_bloat'::text as name,
    'Table Bloat'::text as title,
    'INFO'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Detects if a table has excess bloat and may benefit from maintenance operations like vacuum full or cluster.'::text as description,
    'Table `' || b.schemaname || '`.`' || b.tablename || '` has excessive bloat' as detail,
    'Consider running vacuum full (WARNING: incurs downtime) and tweaking autovacuum settings to reduce bloat.'::text as remediation,
    pg_catalog.jsonb_build_object('schema', b.schemaname, 'name', b.tablename, 'type', 'table') as metadata,
    'table_bloat_' || b.schemaname || '_' || b.tablename as cache_key,
    null::text as fix_sql
from bloat b
-- estimated bloat factor above 70 and more than 20 MiB of wasted space
where b.ratio > 70.0
  and b.wasted_bytes > (20 * 1024 * 1024)
order by b.schemaname, b.tablename
