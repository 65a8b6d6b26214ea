//! The demo's Supabase project: a Supabase-like database on the console's own PostgreSQL
//! (`acme_erp_supabase`: `auth.users` with a month of sign-ups, `storage.buckets`, the CLI's
//! migrations table, a few app tables with and without RLS) linked to the demo project as a
//! local project, so the Supabase panel shows real data through the proxy and the local
//! Management API on first start.
use anyhow::{Context, Result};
use sqlx::PgPool;
use uuid::Uuid;

pub const DATABASE: &str = "acme_erp_supabase";
/// The demo link's ref (20 lowercase letters, as Supabase's).
pub const REF: &str = "acmeerplocalsupabase";

const SCHEMA: &str = r#"
create schema if not exists auth;
create schema if not exists storage;
create schema if not exists supabase_migrations;
create schema if not exists extensions;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text unique,
  phone text,
  raw_user_meta_data jsonb not null default '{}',
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create or replace function auth.uid() returns uuid language sql stable
  as $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;

create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  public boolean not null default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  name text,
  statements text[]
);

create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text unique,
  avatar_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table public.profiles enable row level security;
do $$ begin
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'profiles' and policyname = 'own profile') then
    create policy "own profile" on public.profiles for all using (id = auth.uid()) with check (id = auth.uid());
  end if;
end $$;

create table if not exists public.customers (
  id bigint generated always as identity primary key,
  name text not null,
  email text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table public.customers enable row level security;

create table if not exists public.orders (
  id bigint generated always as identity primary key,
  customer_id bigint not null references public.customers (id),
  total numeric(12, 2) not null,
  status text not null default 'draft',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create or replace function public.order_total(customer bigint) returns numeric language sql stable
  as $$ select coalesce(sum(total), 0) from public.orders where customer_id = customer $$;
"#;

/// Sample rows, once (the tables stay as the user left them on later starts).
const DATA: &str = r#"
insert into auth.users (email, phone, email_confirmed_at, last_sign_in_at, created_at, raw_user_meta_data)
select format('user%s@acme-shop.example', g),
       case when g % 7 = 0 then '+316' || lpad(g::text, 8, '0') end,
       case when g % 5 <> 0 then now() - (g % 30) * interval '1 day' end,
       case when g % 3 = 0 then now() - (g % 4) * interval '1 hour' end,
       -- more sign-ups lately: a growing shop
       now() - floor(28.99 * power(((g * 7919) % 140) / 140.0, 1.8)) * interval '1 day' - ((g * 104729) % 86400) * interval '1 second',
       jsonb_build_object('plan', case when g % 4 = 0 then 'pro' else 'free' end)
  from generate_series(1, 140) g
 where not exists (select 1 from auth.users);

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('avatars', 'avatars', true, 2097152, array['image/png', 'image/jpeg', 'image/webp']),
       ('invoices', 'invoices', false, 10485760, array['application/pdf']),
       ('exports', 'exports', false, null, null)
on conflict (id) do nothing;

insert into supabase_migrations.schema_migrations (version, name, statements)
values ('20260901093000', 'init', array['create table public.customers (...)']),
       ('20260915141500', 'orders', array['create table public.orders (...)']),
       ('20261012080000', 'profiles_rls', array['alter table public.profiles enable row level security']),
       ('20261120170000', 'order_total_fn', array['create function public.order_total(bigint) ...'])
on conflict (version) do nothing;

insert into public.customers (name, email)
select format('Customer %s', g), format('billing%s@client.example', g) from generate_series(1, 60) g
 where not exists (select 1 from public.customers);

insert into public.orders (customer_id, total, status, created_at)
select 1 + (g * 31) % 60, round(((g * 7919) % 50000) / 100.0, 2), (array['draft', 'confirmed', 'paid', 'shipped'])[1 + g % 4], now() - (g % 90) * interval '1 day'
  from generate_series(1, 400) g
 where not exists (select 1 from public.orders);
"#;

/// Creates the database, loads it, and links it to `project_id` as a local Supabase project.
/// Like the environment databases, it is skipped with a warning when the server refuses to
/// create databases.
pub async fn create(owner: &PgPool, server_url: &str, tenant_id: Uuid, project_id: Uuid, cfg: &crate::config::Config) -> Result<()> {
    if let Err(e) = crate::db::ensure_database(server_url, DATABASE).await {
        tracing::warn!(database = DATABASE, error = %format!("{e:#}"), "the demo's Supabase database was not created; the Supabase panel starts empty");
        return Ok(());
    }
    let url = crate::db::with_database(server_url, DATABASE);
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.context("connecting to the demo's Supabase database")?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await.context("creating the demo's Supabase schemas")?;
    sqlx::raw_sql(DATA).execute(&pool).await.context("loading the demo's Supabase sample")?;
    sqlx::query("analyze").execute(&pool).await?;
    pool.close().await;
    let secrets = crate::supabase::crypto::SecretBox::load(owner, cfg.supabase_secrets_key.as_ref()).await?;
    sqlx::query(
        "insert into ops.supabase_projects (tenant_id, project_id, project_ref, name, upstream, db_url_enc)
         values ($1, $2, $3, 'Acme shop (self-hosted)', 'local', $4)
         on conflict do nothing",
    )
    .bind(tenant_id)
    .bind(project_id)
    .bind(REF)
    .bind(secrets.seal(&url)?)
    .execute(owner)
    .await
    .context("linking the demo's Supabase project")?;
    Ok(())
}
