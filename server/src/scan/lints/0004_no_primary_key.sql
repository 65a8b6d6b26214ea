-- lint: 0004_no_primary_key
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
pk_less as (
    select ns.nspname, tbl.relname
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind = 'r'
      and ns.nspname not in (select s.nspname from system_schema s)
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
      and not exists (
          select 1 from pg_catalog.pg_index ix
          where ix.indrelid = tbl.oid and ix.indisprimary
      )
)
select
    'no_primary_key'::text as name,
    'No Primary Key'::text as title,
    'INFO'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Detects if a table does not have a primary key. Tables without a primary key can be inefficient to interact with at scale.'::text as description,
    'Table \`' || t.nspname || '.' || t.relname || '\` does not have a primary key' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0004_no_primary_key'::text as remediation,
    pg_catalog.jsonb_build_object('schema', t.nspname, 'name', t.relname, 'type', 'table') as metadata,
    'no_primary_key_' || t.nspname || '_' || t.relname as cache_key,
    null::text as fix_sql
from pk_less t
