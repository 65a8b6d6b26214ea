-- lint: OD02_allow_all_policy
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
        tbl.relowner,
        tbl.relrowsecurity,
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
    where pol.polpermissive
      and ns.nspname not in (select s.nspname from system_schema s)
      and ns.nspname not like 'pg\_toast%'
      and ns.nspname not like 'pg\_temp\_%'
),
allow_all as (
    select pt.*
    from policy_text pt
    where (pt.qual is null
           or pg_catalog.translate(pg_catalog.lower(pt.qual), E' \n\t', '') in (select a.expr from always_true a))
      and (pt.with_check is null
           or pg_catalog.translate(pg_catalog.lower(pt.with_check), E' \n\t', '') in (select a.expr from always_true a))
      -- PUBLIC, or at least one role that is subject to RLS on this table
      and (
          pt.polroles = '{0}'::oid[]
          or exists (
              select 1 from pg_catalog.pg_roles rl
              where rl.oid = any (pt.polroles)
                and not rl.rolbypassrls
                and not rl.rolsuper
                and rl.oid <> pt.relowner
          )
      )
),
labelled as (
    select
        aa.*,
        (
            select pg_catalog.array_agg(
                       case when r.role_oid = 0 then 'public' else r.role_oid::pg_catalog.regrole::text end
                       order by r.pos)
            from pg_catalog.unnest(aa.polroles) with ordinality as r (role_oid, pos)
        ) as roles
    from allow_all aa
)
select
    'OD02_allow_all_policy'::text as name,
    'Allow-all RLS policy'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Finds permissive row level security policies whose USING and WITH CHECK expressions are both missing or always true, for any command including SELECT. Such a policy lets every role it applies to read or write every row, so row level security gives no protection for those roles.'::text as description,
    'Policy `' || l.polname || '` on table `' || l.nspname || '.' || l.relname || '` allows every row for `' || l.command
        || '` to ' || pg_catalog.array_to_string(l.roles, ', ')
        || ': its USING and WITH CHECK expressions are missing or always true.' as detail,
    'Replace the policy expressions with conditions that limit rows to the caller (for example the owner or tenant column), or drop the policy if unrestricted access is not intended.'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', l.nspname,
        'name', l.relname,
        'type', 'table',
        'policy_name', l.polname,
        'command', l.command,
        'roles', l.roles,
        'qual', l.qual,
        'with_check', l.with_check,
        'rls_enabled', l.relrowsecurity
    ) as metadata,
    'od02_allow_all_policy_' || l.nspname || '_' || l.relname || '_' || l.polname as cache_key,
    null::text as fix_sql
from labelled l
order by l.nspname, l.relname, l.polname
