-- lint: 0025_public_bucket_allows_listing
-- requires-schemas: storage
-- requires-relations: storage.buckets
-- deviation: reads storage.buckets directly (the engine checks requires-relations first) instead of through query_to_xml/xpath; splinter's XML round trip returns ids/names with &, < or > entity-escaped (a&amp;b) and empty ones as NULL, so it reported them wrongly and silently missed bucket-specific policies such as bucket_id = 'a&b'; for every other bucket the rows are identical
with
public_bucket as (
    select b.id::text as bucket_id, b.name::text as bucket_name
    from storage.buckets b
    where b.public = true
),
always_true (expr) as (
    values ('true'), ('(true)'), ('1=1'), ('(1=1)')
),
listing_policy as (
    -- permissive SELECT/ALL policies on storage.objects for PUBLIC, anon or authenticated
    select pol.polname, pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) as qual
    from pg_catalog.pg_policy pol
    join pg_catalog.pg_class tbl on tbl.oid = pol.polrelid
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where ns.nspname = 'storage'
      and tbl.relname = 'objects'
      and pol.polcmd in ('r', '*')
      and pol.polpermissive
      and (
          pol.polroles = '{0}'::oid[]
          or exists (
              select 1 from pg_catalog.pg_roles rl
              where rl.oid = any (pol.polroles) and rl.rolname in ('anon', 'authenticated')
          )
      )
),
classified as (
    select
        lp.polname,
        lp.qual,
        lp.qual is null
            or pg_catalog.translate(pg_catalog.lower(lp.qual), E' \n\t', '') in (select a.expr from always_true a)
            as matches_every_bucket,
        -- USING is nothing but bucket_id = '<literal>' (optional cast, parentheses, blanks)
        pg_catalog.replace(
            (pg_catalog.regexp_match(
                lp.qual,
                $re$^\s*\(*\s*bucket_id\s*=\s*'((?:[^']|'')*)'(?:\s*::\s*[[:alnum:]_.]+)?\s*\)*\s*$$re$,
                'i'
            ))[1],
            '''''', ''''
        ) as only_bucket
    from listing_policy lp
),
per_bucket as (
    select
        pb.bucket_id,
        pb.bucket_name,
        pg_catalog.array_agg(c.polname order by c.polname) as policy_names,
        pg_catalog.count(*)::int as policy_count
    from public_bucket pb
    join classified c on c.matches_every_bucket or c.only_bucket = pb.bucket_id
    group by pb.bucket_id, pb.bucket_name
)
select
    'public_bucket_allows_listing'::text as name,
    'Public Bucket Allows Listing'::text as title,
    'WARN'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects public storage buckets with a broad SELECT policy on `storage.objects`, which allows clients to list all files in the bucket.'::text as description,
    'Public bucket `' || coalesce(b.bucket_name, '') || '` has ' || b.policy_count::text || ' broad SELECT '
        || case when b.policy_count = 1 then 'policy' else 'policies' end
        || ' on `storage.objects` (' || pg_catalog.array_to_string(b.policy_names, ', ')
        || '), allowing clients to list all files. Public buckets don''t need this for object URL access and it may expose more data than intended.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0025_public_bucket_allows_listing'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', 'storage',
        'name', b.bucket_name,
        'type', 'bucket',
        'bucket_id', b.bucket_id,
        'bucket_name', b.bucket_name,
        'policy_names', b.policy_names,
        'policy_count', b.policy_count
    ) as metadata,
    'public_bucket_allows_listing_' || coalesce(b.bucket_id, '') as cache_key,
    null::text as fix_sql
from per_bucket b
order by b.bucket_id
