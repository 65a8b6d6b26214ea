-- lint: 0015_rls_references_user_metadata
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
policy_text as (
    -- no RLS-enabled, relkind or extension filter (as in splinter)
    select
        ns.nspname,
        tbl.relname,
        pol.polname,
        pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) as using_expr,
        pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) as check_expr
    from pg_catalog.pg_policy pol
    join pg_catalog.pg_class tbl on tbl.oid = pol.polrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where ns.nspname not in (select s.nspname from system_schema s)
),
flagged as (
    -- plain LIKE patterns; '_' stays a wildcard as in splinter
    select pt.*
    from policy_text pt
    where pt.using_expr like any (array['%auth.jwt()%user_metadata%', '%current_setting(%request.jwt.claims%)%user_metadata%'])
       or pt.check_expr like any (array['%auth.jwt()%user_metadata%', '%current_setting(%request.jwt.claims%)%user_metadata%'])
)
select
    'rls_references_user_metadata'::text as name,
    'RLS references user metadata'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects when Supabase Auth user_metadata is referenced insecurely in a row level security (RLS) policy.'::text as description,
    'Table \`' || f.nspname || '.' || f.relname || '\` has a row level security policy \`' || f.polname
        || '\` that references Supabase Auth \`user_metadata\`. \`user_metadata\` is editable by end users and should never be used in a security context.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0015_rls_references_user_metadata'::text as remediation,
    pg_catalog.jsonb_build_object('schema', f.nspname, 'name', f.relname, 'type', 'table') as metadata,
    'rls_references_user_metadata_' || f.nspname || '_' || f.relname || '_' || f.polname as cache_key,
    null::text as fix_sql
from flagged f
