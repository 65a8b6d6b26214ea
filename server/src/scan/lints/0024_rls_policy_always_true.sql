-- lint: 0024_rls_policy_always_true
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
always_true (expr) as (
    values ('true'), ('(true)'), ('1=1'), ('(1=1)')
),
policy_text as (
    select
        ns.nspname,
        tbl.relname,
        pol.polname,
        pol.polroles,
        case pol.polcmd
            when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
            when 'd' then 'DELETE' when '*' then 'ALL'
        end as command,
        pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) as qual,
        pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) as with_check
    from pg_catalog.pg_policy pol
    join pg_catalog.pg_class tbl on tbl.oid = pol.polrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind = 'r'
      and tbl.relrowsecurity
      and pol.polpermissive
      and ns.nspname not in (select s.nspname from system_schema s)
      -- PUBLIC, or anon / authenticated named directly (membership not followed)
      and (
          pol.polroles = '{0}'::oid[]
          or exists (
              select 1 from pg_catalog.unnest(pol.polroles) as r (role_oid)
              where r.role_oid::pg_catalog.regrole::text in ('anon', 'authenticated')
          )
      )
),
classified as (
    select
        pt.*,
        (
            select pg_catalog.array_agg(r.role_oid::pg_catalog.regrole::text order by r.pos)
            from pg_catalog.unnest(pt.polroles) with ordinality as r (role_oid, pos)
        ) as roles,
        pg_catalog.translate(pg_catalog.lower(coalesce(pt.qual, '')), E' \n\t', '') in (select a.expr from always_true a) as qual_true,
        pg_catalog.translate(pg_catalog.lower(coalesce(pt.with_check, '')), E' \n\t', '') in (select a.expr from always_true a) as check_true
    from policy_text pt
),
flagged as (
    -- a missing USING on a permissive policy allows every row; a missing
    -- WITH CHECK falls back to USING for UPDATE/ALL and allows all for INSERT
    select
        c.*,
        (c.command in ('UPDATE', 'DELETE', 'ALL') and (c.qual_true or c.qual is null)) as permissive_using,
        (
            c.check_true
            or (c.with_check is null and c.command = 'INSERT')
            or (c.with_check is null and c.command in ('UPDATE', 'ALL') and c.qual_true)
        ) as permissive_with_check
    from classified c
)
select
    'rls_policy_always_true'::text as name,
    'RLS Policy Always True'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects RLS policies that use overly permissive expressions like \`USING (true)\` or \`WITH CHECK (true)\` for UPDATE, DELETE, or INSERT operations. SELECT policies with \`USING (true)\` are intentionally excluded as this pattern is often used deliberately for public read access.'::text as description,
    'Table `' || f.nspname || '.' || f.relname || '` has an RLS policy `' || f.polname || '` for `' || f.command
        || '` that allows unrestricted access'
        || case
               when f.permissive_using and f.permissive_with_check then ' (both USING and WITH CHECK are always true)'
               when f.permissive_using then ' (USING clause is always true)'
               else ' (WITH CHECK clause is always true)'
           end
        || '. This effectively bypasses row-level security for ' || pg_catalog.array_to_string(f.roles, ', ') || '.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0024_permissive_rls_policy'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', f.nspname,
        'name', f.relname,
        'type', 'table',
        'policy_name', f.polname,
        'command', f.command,
        'roles', f.roles,
        'qual', f.qual,
        'with_check', f.with_check,
        'permissive_using', f.permissive_using,
        'permissive_with_check', f.permissive_with_check
    ) as metadata,
    'rls_policy_always_true_' || f.nspname || '_' || f.relname || '_' || f.polname as cache_key,
    null::text as fix_sql
from flagged f
where f.permissive_using or f.permissive_with_check
order by f.nspname, f.relname, f.polname
