-- lint: 0022_extension_versions_outdated
with
stale as (
    -- plain string inequality; installed versions that no longer have a
    -- version file (pg_upgrade leftovers) are ignored
    select ae.name, ae.installed_version, ae.default_version
    from pg_catalog.pg_available_extensions ae
    where ae.installed_version is not null
      and ae.default_version is not null
      and ae.installed_version <> ae.default_version
      and exists (
          select 1 from pg_catalog.pg_available_extension_versions av
          where av.name = ae.name and av.installed
      )
)
select
    'extension_versions_outdated'::text as name,
    'Extension Versions Outdated'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects extensions that are not using the default (recommended) version.'::text as description,
    'Extension `' || s.name || '` is using version `' || s.installed_version || '` but version `' || s.default_version
        || '` is available. Using outdated extension versions may expose the database to security vulnerabilities.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0022_extension_versions_outdated'::text as remediation,
    pg_catalog.jsonb_build_object(
        'extension_name', s.name,
        'installed_version', s.installed_version,
        'default_version', s.default_version
    ) as metadata,
    'extension_versions_outdated_' || s.name || '_' || s.installed_version as cache_key,
    null::text as fix_sql
from stale s
order by s.name
