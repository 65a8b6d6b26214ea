-- lint: 0002_auth_users_exposed
-- requires-roles: anon, authenticated
-- requires-schemas: auth
-- requires-relations: auth.users
-- requires-exposed: true
with
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
invoker_option (opt) as (
    select pg_catalog.unnest('{security_invoker=1,security_invoker=true,security_invoker=yes,security_invoker=on}'::text[])
),
users_table as (
    select t.oid, t.relrowsecurity
    from pg_catalog.pg_class t
    join pg_catalog.pg_namespace tn on tn.oid = t.relnamespace
    where tn.nspname = 'auth' and t.relname = 'users'
),
dependent as (
    -- views / matviews whose own rewrite rule references auth.users directly
    -- (a view reading auth.users through another view is not found)
    select
        v.oid,
        v.relname,
        v.relkind,
        vn.nspname,
        ut.relrowsecurity as users_rls,
        exists (
            select 1
            from pg_catalog.unnest(v.reloptions) as o (opt)
            where pg_catalog.lower(o.opt) in (select io.opt from invoker_option io)
        ) as is_invoker
    from users_table ut
    join (
        select distinct d.refobjid as users_oid, rw.ev_class as view_oid
        from pg_catalog.pg_depend d
        join pg_catalog.pg_rewrite rw on rw.oid = d.objid
        where d.deptype = 'n'
    ) as ref on ref.users_oid = ut.oid
    join pg_catalog.pg_class v on v.oid = ref.view_oid
    join pg_catalog.pg_namespace vn on vn.oid = v.relnamespace
),
exposed as (
    select
        dep.*,
        pg_catalog.has_table_privilege('anon', dep.oid, 'SELECT') as anon_can
    from dependent dep
    where (
            pg_catalog.has_table_privilege('anon', dep.oid, 'SELECT')
            or pg_catalog.has_table_privilege('authenticated', dep.oid, 'SELECT')
        )
      and dep.nspname in (select a.nspname from api_schema a)
      and dep.relname <> '0002_auth_users_exposed'
      and (
            dep.relkind = 'm'
            or (dep.relkind = 'v' and (not dep.is_invoker or not dep.users_rls))
      )
)
select
    'auth_users_exposed'::text as name,
    'Exposed Auth Users'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects if auth.users is exposed to anon or authenticated roles via a view or materialized view in schemas exposed to PostgREST, potentially compromising user data security.'::text as description,
    'View/Materialized View "' || e.relname
        || '" in the public schema may expose \`auth.users\` data to anon or authenticated roles.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0002_auth_users_exposed'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', e.nspname,
        'name', e.relname,
        'type', 'view',
        'exposed_to', pg_catalog.jsonb_build_array(case when e.anon_can then 'anon' else 'authenticated' end)
    ) as metadata,
    'auth_users_exposed_' || e.nspname || '_' || e.relname as cache_key,
    null::text as fix_sql
from exposed e
