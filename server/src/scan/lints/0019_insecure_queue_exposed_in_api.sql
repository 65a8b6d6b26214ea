-- lint: 0019_insecure_queue_exposed_in_api
-- requires-roles: anon, authenticated
-- requires-schemas: pgmq
-- requires-exposed: true
-- deviation: also reports partitioned queue tables (relkind 'p'); splinter filters relkind in ('r','I') where 'I' (partitioned index) is a typo for 'p', so a readable partitioned queue without RLS was silently missed
with
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
queue_table as (
    -- fires only when pgmq_public (the queue RPC schema) is exposed;
    -- 'q_%' keeps LIKE semantics ('_' is a wildcard) as in splinter
    select ns.nspname, q.relname
    from pg_catalog.pg_class q
    join pg_catalog.pg_namespace ns on ns.oid = q.relnamespace
    where q.relkind in ('r', 'p', 'I')
      and not q.relrowsecurity
      and (
          pg_catalog.has_table_privilege('anon', q.oid, 'SELECT')
          or pg_catalog.has_table_privilege('authenticated', q.oid, 'SELECT')
      )
      and ns.nspname = 'pgmq'
      and q.relname like 'q_%'
      and 'pgmq_public' in (select a.nspname from api_schema a)
)
select
    'insecure_queue_exposed_in_api'::text as name,
    'Insecure Queue Exposed in API'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects cases where an insecure Queue is exposed over Data APIs'::text as description,
    'Table \`' || qt.nspname || '.' || qt.relname || '\` is public, but RLS has not been enabled.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0019_insecure_queue_exposed_in_api'::text as remediation,
    pg_catalog.jsonb_build_object('schema', qt.nspname, 'name', qt.relname, 'type', 'table') as metadata,
    -- splinter reuses the 0013 prefix here
    'rls_disabled_in_public_' || qt.nspname || '_' || qt.relname as cache_key,
    null::text as fix_sql
from queue_table qt
