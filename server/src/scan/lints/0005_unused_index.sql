-- lint: 0005_unused_index
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
never_scanned as (
    -- cumulative statistics: "never" means since the last stats reset
    select st.schemaname, st.relname, st.indexrelname
    from pg_catalog.pg_stat_user_indexes st
    join pg_catalog.pg_index ix on ix.indexrelid = st.indexrelid
    where st.idx_scan = 0
      and not ix.indisunique
      and not ix.indisprimary
      and st.schemaname not in (select s.nspname from system_schema s)
      and st.relid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
)
select
    'unused_index'::text as name,
    'Unused Index'::text as title,
    'INFO'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Detects if an index has never been used and may be a candidate for removal.'::text as description,
    'Index \`' || i.indexrelname || '\` on table \`' || i.schemaname || '.' || i.relname || '\` has not been used' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0005_unused_index'::text as remediation,
    pg_catalog.jsonb_build_object('schema', i.schemaname, 'name', i.relname, 'type', 'table') as metadata,
    'unused_index_' || i.schemaname || '_' || i.relname || '_' || i.indexrelname as cache_key,
    null::text as fix_sql
from never_scanned i
