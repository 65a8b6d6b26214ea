-- lint: 0003_auth_rls_initplan
with
system_schema (nspname) as (
    -- standard list WITHOUT realtime, so realtime.messages policies are checked
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
call_pattern (pat) as (
    -- LIKE fragments; the underscore in current_setting is escaped
    values ('auth.uid()'), ('auth.jwt()'), ('auth.role()'), ('auth.email()'), ('current\_setting(%)')
),
policy_text as (
    select
        ns.nspname,
        tbl.relname,
        pol.polname,
        pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) as using_expr,
        pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) as check_expr
    from pg_catalog.pg_policy pol
    join pg_catalog.pg_class tbl on tbl.oid = pol.polrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relrowsecurity
      and ns.nspname not in (select s.nspname from system_schema s)
),
flagged as (
    -- a call counts when it appears and is never wrapped as (select <call>)
    -- within the same expression
    select pt.*
    from policy_text pt
    where exists (
        select 1
        from (values (pt.using_expr), (pt.check_expr)) as e (expr)
        cross join call_pattern cp
        where e.expr like '%' || cp.pat || '%'
          and pg_catalog.lower(e.expr) not like '%select ' || cp.pat || '%'
    )
)
select
    'auth_rls_initplan'::text as name,
    'Auth RLS Initialization Plan'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Detects if calls to \`current_setting()\` and \`auth.<function>()\` in RLS policies are being unnecessarily re-evaluated for each row'::text as description,
    'Table \`' || f.nspname || '.' || f.relname || '\` has a row level security policy \`' || f.polname
        || '\` that re-evaluates current_setting() or auth.<function>() for each row. This produces suboptimal query performance at scale. Resolve the issue by replacing \`auth.<function>()\` with \`(select auth.<function>())\`. See [docs](https://supabase.com/docs/guides/database/postgres/row-level-security#call-functions-with-select) for more info.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0003_auth_rls_initplan'::text as remediation,
    pg_catalog.jsonb_build_object('schema', f.nspname, 'name', f.relname, 'type', 'table') as metadata,
    'auth_rls_init_plan_' || f.nspname || '_' || f.relname || '_' || f.polname as cache_key,
    null::text as fix_sql
from flagged f
