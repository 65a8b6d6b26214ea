-- lint: 0023_sensitive_columns_exposed
-- requires-roles: anon, authenticated
-- requires-exposed: true
with
system_schema (nspname) as (
    select pg_catalog.unnest('{_timescaledb_cache,_timescaledb_catalog,_timescaledb_config,_timescaledb_internal,auth,cron,extensions,graphql,graphql_public,information_schema,net,pgmq,pgroonga,pgsodium,pgsodium_masks,pgtle,pgbouncer,pg_catalog,realtime,repack,storage,supabase_functions,supabase_migrations,tiger,topology,vault}'::text[])
),
api_schema (nspname) as (
    select pg_catalog.btrim(entry)
    from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('pgrst.db_schemas', true), ',')) as entry
),
sensitive_name (pattern) as (
    -- exact (normalized) column names, not substrings
    select pg_catalog.unnest(array[
        -- credentials
        'password', 'passwd', 'pwd', 'passphrase', 'secret', 'secret_key', 'private_key',
        'api_key', 'apikey', 'auth_key', 'token', 'jwt', 'access_token', 'refresh_token',
        'oauth_token', 'session_token', 'bearer_token', 'auth_code', 'session_id',
        'session_key', 'session_secret', 'recovery_code', 'backup_code', 'verification_code',
        'otp', 'two_factor', '2fa_secret', '2fa_code',
        -- personal identifiers
        'ssn', 'social_security', 'social_security_number', 'driver_license',
        'drivers_license', 'license_number', 'passport_number', 'passport_id',
        'national_id', 'tax_id',
        -- financial
        'credit_card', 'card_number', 'cvv', 'cvc', 'cvn', 'bank_account',
        'account_number', 'routing_number', 'iban', 'swift_code', 'bic',
        -- health
        'health_record', 'medical_record', 'patient_id', 'insurance_number',
        'health_insurance', 'medical_insurance', 'treatment',
        -- devices
        'mac_address', 'macaddr', 'imei', 'device_uuid',
        -- keys and certificates
        'pgp_key', 'gpg_key', 'ssh_key', 'certificate', 'license_key', 'activation_key',
        -- biometrics
        'facial_recognition'
    ]::text[])
),
unprotected_table as (
    select tbl.oid, ns.nspname, tbl.relname
    from pg_catalog.pg_class tbl
    join pg_catalog.pg_namespace ns on ns.oid = tbl.relnamespace
    where tbl.relkind = 'r'
      and not tbl.relrowsecurity
      and (
          pg_catalog.has_table_privilege('anon', tbl.oid, 'SELECT')
          or pg_catalog.has_table_privilege('authenticated', tbl.oid, 'SELECT')
      )
      and ns.nspname in (select a.nspname from api_schema a)
      and ns.nspname not in (select s.nspname from system_schema s)
),
hit as (
    select ut.nspname, ut.relname, att.attname, sn.pattern
    from unprotected_table ut
    join pg_catalog.pg_attribute att
        on att.attrelid = ut.oid and att.attnum > 0 and not att.attisdropped
    join sensitive_name sn
        on sn.pattern = pg_catalog.replace(pg_catalog.lower(att.attname), '-', '_')
),
per_table as (
    -- column names sort as "name" (C collation), patterns as text (database collation)
    select
        h.nspname,
        h.relname,
        pg_catalog.array_agg(distinct h.attname order by h.attname) as columns,
        pg_catalog.array_agg(distinct h.pattern order by h.pattern) as patterns
    from hit h
    group by h.nspname, h.relname
)
select
    'sensitive_columns_exposed'::text as name,
    'Sensitive Columns Exposed'::text as title,
    'ERROR'::text as level,
    'EXTERNAL'::text as facing,
    array['SECURITY']::text[] as categories,
    'Detects tables exposed via API that contain columns with potentially sensitive data (PII, credentials, financial info) without RLS protection.'::text as description,
    'Table `' || p.nspname || '.' || p.relname || '` is exposed via API without RLS and contains potentially sensitive column(s): '
        || pg_catalog.array_to_string(p.columns, ', ') || '. This may lead to data exposure.' as detail,
    'https://supabase.com/docs/guides/database/database-linter?lint=0023_sensitive_columns_exposed'::text as remediation,
    pg_catalog.jsonb_build_object(
        'schema', p.nspname,
        'name', p.relname,
        'type', 'table',
        'sensitive_columns', p.columns,
        'matched_patterns', p.patterns
    ) as metadata,
    'sensitive_columns_exposed_' || p.nspname || '_' || p.relname as cache_key,
    null::text as fix_sql
from per_table p
order by p.nspname, p.relname
