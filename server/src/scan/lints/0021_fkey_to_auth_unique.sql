-- lint: 0021_fkey_to_auth_unique
-- requires-schemas: auth
with
auth_unique_ref as (
    -- FKs whose referenced index in auth is UNIQUE but not the primary key;
    -- the referencing side is not filtered (FKs inside auth count too)
    select src_ns.nspname, src.relname, con.conname
    from pg_catalog.pg_constraint con
    join pg_catalog.pg_class src on src.oid = con.conrelid
    join pg_catalog.pg_namespace src_ns on src_ns.oid = src.relnamespace
    join pg_catalog.pg_class dst on dst.oid = con.confrelid
    join pg_catalog.pg_namespace dst_ns on dst_ns.oid = dst.relnamespace
    join pg_catalog.pg_index ref_ix on ref_ix.indexrelid = con.conindid
    where con.contype = 'f'
      and dst_ns.nspname = 'auth'
      and ref_ix.indisunique
      and not ref_ix.indisprimary
)
select
    'fkey_to_auth_unique'::text as name,
    'Foreign Key to Auth Unique Constraint'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects user defined foreign keys to unique constraints in the auth schema.'::text as description,
    'Table `' || r.nspname || '`.`' || r.relname || '` has a foreign key `' || r.conname
        || '` referencing an auth unique constraint' as detail,
    'Drop the foreign key constraint that references the auth schema.'::text as remediation,
    pg_catalog.jsonb_build_object('schema', r.nspname, 'name', r.relname, 'foreign_key', r.conname) as metadata,
    'fkey_to_auth_unique_' || r.nspname || '_' || r.relname || '_' || r.conname as cache_key,
    null::text as fix_sql
from auth_unique_ref r
