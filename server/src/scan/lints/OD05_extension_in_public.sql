-- lint: OD05_extension_in_public
-- fix: create schema if not exists extensions; alter extension <ext> set schema extensions; NULL when the extension is not relocatable; callers that use the extension's objects unqualified need extensions on their search_path
with
in_public as (
    select e.extname, e.extversion, e.extrelocatable
    from pg_catalog.pg_extension e
    join pg_catalog.pg_namespace ns on ns.oid = e.extnamespace
    where ns.nspname = 'public'
      and e.extname <> 'plpgsql'
)
select
    'OD05_extension_in_public'::text as name,
    'Extension in the public schema'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Finds extensions other than plpgsql that are installed in the public schema. Their functions, types and tables then sit next to application objects, show up in the API schema and can be shadowed by or collide with user objects.'::text as description,
    'Extension `' || x.extname || '` (version ' || x.extversion || ') is installed in schema `public`'
        || case when x.extrelocatable then '.' else ' and cannot be moved with ALTER EXTENSION ... SET SCHEMA.' end as detail,
    'Move the extension to a dedicated schema such as extensions (ALTER EXTENSION ... SET SCHEMA, or drop and re-create it there if it is not relocatable) and add that schema to the search_path of the roles that use it.'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', 'public',
        'name', x.extname,
        'type', 'extension',
        'version', x.extversion,
        'relocatable', x.extrelocatable
    ) as metadata,
    'od05_extension_in_public_public_' || x.extname as cache_key,
    case when x.extrelocatable then
        pg_catalog.format('create schema if not exists extensions; alter extension %I set schema extensions', x.extname)
    end as fix_sql
from in_public x
order by x.extname
