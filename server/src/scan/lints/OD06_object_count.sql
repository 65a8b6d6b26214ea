-- lint: OD06_object_count
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
user_schema as (
    select ns.oid
    from pg_catalog.pg_namespace ns
    where ns.nspname not in (select s.nspname from system_schema s)
      and ns.nspname not like 'pg\_toast%'
      and ns.nspname not like 'pg\_temp\_%'
),
tally as (
    select
        (select pg_catalog.count(*) from pg_catalog.pg_class c
          where c.relnamespace in (select us.oid from user_schema us)
            and c.relkind in ('r', 'p', 'v', 'm', 'i', 'I', 'S', 'f')) as relations,
        (select pg_catalog.count(*) from pg_catalog.pg_proc f
          where f.pronamespace in (select us.oid from user_schema us)) as functions,
        (select pg_catalog.count(*) from pg_catalog.pg_policy p
          join pg_catalog.pg_class c on c.oid = p.polrelid
          where c.relnamespace in (select us.oid from user_schema us)) as policies,
        (select pg_catalog.count(*) from pg_catalog.pg_trigger t
          join pg_catalog.pg_class c on c.oid = t.tgrelid
          where not t.tgisinternal
            and c.relnamespace in (select us.oid from user_schema us)) as triggers
),
total as (
    select t.*, t.relations + t.functions + t.policies + t.triggers as objects,
           8000 as warn_at, 10000 as fail_at
    from tally t
)
select
    'OD06_object_count'::text as name,
    'Large number of database objects'::text as title,
    case when t.objects >= t.fail_at then 'ERROR' else 'WARN' end::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Counts the relations (tables, partitioned tables, views, materialized views, indexes, sequences, foreign tables), functions, policies and triggers outside system schemas. Very large catalogs slow down schema introspection by PostgREST and other tools, migrations, backups and upgrades.'::text as description,
    'Database `' || pg_catalog.current_database() || '` has ' || t.objects::text || ' user objects ('
        || t.relations::text || ' relations, ' || t.functions::text || ' functions, ' || t.policies::text || ' policies, '
        || t.triggers::text || ' triggers); thresholds are ' || t.warn_at::text || ' (warn) and ' || t.fail_at::text || ' (error).' as detail,
    'Drop unused tables, views, functions and indexes, or split unrelated workloads into separate databases, to keep the object count below the warning threshold.'::text as remediation,
    pg_catalog.jsonb_build_object('count', t.objects, 'warn', t.warn_at, 'fail', t.fail_at) as metadata,
    'od06_object_count_' || pg_catalog.current_database() as cache_key,
    null::text as fix_sql
from total t
where t.objects >= t.warn_at
