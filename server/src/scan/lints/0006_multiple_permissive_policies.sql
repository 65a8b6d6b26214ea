-- lint: 0006_multiple_permissive_policies
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
command_action (polcmd, action) as (
    values
        ('r'::"char", 'SELECT'::text),
        ('a', 'INSERT'), ('w', 'UPDATE'), ('d', 'DELETE'),
        ('*', 'SELECT'), ('*', 'INSERT'), ('*', 'UPDATE'), ('*', 'DELETE')
),
per_role_action as (
    -- a PUBLIC policy ({0}) applies to every role; role membership is not followed
    select ns.nspname, tbl.relname, rol.rolname, ca.action, pol.polname
    from pg_catalog.pg_policy pol
    join pg_catalog.pg_class tbl on tbl.oid = pol.polrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    join pg_catalog.pg_roles rol
        on rol.oid = any (pol.polroles) or pol.polroles = '{0}'::oid[]
    join command_action ca on ca.polcmd = pol.polcmd
    where tbl.relkind = 'r'
      and pol.polpermissive
      and ns.nspname not in (select s.nspname from system_schema s)
      -- LIKE semantics kept on purpose: '_' is a wildcard here
      and rol.rolname not like 'pg_%'
      and rol.rolname not like 'supabase%admin'
      and not rol.rolbypassrls
      and tbl.oid not in (select ext.objid from pg_catalog.pg_depend ext where ext.deptype = 'e')
),
grouped as (
    select
        nspname, relname, rolname, action,
        pg_catalog.array_agg(polname order by polname) as policy_names
    from per_role_action
    group by nspname, relname, rolname, action
    having pg_catalog.count(*) > 1
)
select
    'multiple_permissive_policies'::text as name,
    'Multiple Permissive Policies'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['PERFORMANCE']::text[] as categories,
    'Detects if multiple permissive row level security policies are present on a table for the same \`role\` and \`action\` (e.g. insert). Multiple permissive policies are suboptimal for performance as each policy must be executed for every relevant query.'::text as description,
    'Table \`' || g.nspname || '.' || g.relname || '\` has multiple permissive policies for role \`' || g.rolname
        || '\` for action \`' || g.action || '\`. Policies include \`' || g.policy_names::text || '\`' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0006_multiple_permissive_policies'::text as remediation,
    pg_catalog.jsonb_build_object('schema', g.nspname, 'name', g.relname, 'type', 'table') as metadata,
    'multiple_permissive_policies_' || g.nspname || '_' || g.relname || '_' || g.rolname || '_' || g.action as cache_key,
    null::text as fix_sql
from grouped g
