-- lint: 0014_extension_in_public
-- fix: create schema if not exists extensions; alter extension <ext> set schema extensions; NULL when the extension is not relocatable; callers that use the extension's objects unqualified need extensions on their search_path
with
in_public as (
    -- plpgsql lives in pg_catalog by default and is never user-controlled
    select e.extname, e.extrelocatable, e.extnamespace
    from pg_catalog.pg_extension e
    where e.extname <> 'plpgsql'
      and e.extnamespace::pg_catalog.regnamespace::text = 'public'
)
select
    'extension_in_public'::text as name,
    'Extension in Public'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects extensions installed in the \`public\` schema.'::text as description,
    'Extension \`' || x.extname || '\` is installed in the public schema. Move it to another schema.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0014_extension_in_public'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', x.extnamespace::pg_catalog.regnamespace::text,
        'name', x.extname,
        'type', 'extension'
    ) as metadata,
    'extension_in_public_' || x.extname as cache_key,
    case when x.extrelocatable then
        pg_catalog.format('create schema if not exists extensions; alter extension %I set schema extensions', x.extname)
    end as fix_sql
from in_public x
