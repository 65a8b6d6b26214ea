-- Supabase projects linked to console projects (issue 9). The console's proxy forwards the
-- panel's calls to Supabase's Management API (or to the console's own local implementation of
-- it) only for refs linked here, under the caller's tenant. Each proxied call is recorded in
-- ops.audit_log (action 'supabase.proxy'), so there is no table of proxy requests.

create table ops.supabase_projects (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  -- Supabase project refs are 20 lowercase letters; local projects use the same form.
  project_ref text not null check (project_ref ~ '^[a-z]{20}$'),
  name text not null check (length(name) between 1 and 200),
  -- null: the console's configured Management API; 'local': the console's local
  -- implementation. Never a URL a tenant chooses (the management token would follow it).
  upstream text check (upstream is null or upstream = 'local'),
  -- The PostgreSQL connection behind the local Management API, encrypted by the server
  -- (AES-256-GCM, see server/src/supabase/crypto.rs). Write-only for the app role: read back
  -- only by ops.supabase_local_target(), for the local API.
  db_url_enc text check (db_url_enc is null or length(db_url_enc) <= 4000),
  created_by uuid,
  created_at timestamptz not null default now(),
  unique (tenant_id, project_ref),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade
);
-- The local API serves one namespace of refs: a ref with a backing database is unique.
create unique index supabase_projects_local_ref_idx on ops.supabase_projects (project_ref) where db_url_enc is not null;
create index supabase_projects_project_idx on ops.supabase_projects (tenant_id, project_id);

-- Secrets of the local Management API (Supabase's edge-function secrets): values encrypted,
-- listed by name and sha256 digest only.
create table ops.supabase_secrets (
  tenant_id uuid not null,
  supabase_project_id uuid not null,
  name text not null check (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,255}$' and name !~* '^supabase_'),
  value_enc text not null check (length(value_enc) <= 70000),
  digest text not null check (digest ~ '^[0-9a-f]{64}$'),
  updated_at timestamptz not null default now(),
  primary key (supabase_project_id, name),
  foreign key (tenant_id, supabase_project_id) references ops.supabase_projects (tenant_id, id) on delete cascade
);

-- The local Management API's auth configuration (`GET/PATCH /config/auth`).
create table ops.supabase_auth_config (
  tenant_id uuid not null,
  supabase_project_id uuid primary key,
  config jsonb not null default '{}' check (jsonb_typeof(config) = 'object' and length(config::text) <= 100000),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id, supabase_project_id) references ops.supabase_projects (tenant_id, id) on delete cascade
);

do $$
declare t text;
begin
  foreach t in array array['supabase_projects', 'supabase_secrets', 'supabase_auth_config']
  loop
    execute format('alter table ops.%I enable row level security', t);
    execute format('alter table ops.%I force row level security', t);
    execute format('create policy owner_all on ops.%I for all to %I using (true) with check (true)',
                   t, current_user);
    execute format('create policy tenant_isolation on ops.%I for all to odooops_app
                    using (tenant_id = (select ops.current_tenant_id()))
                    with check (tenant_id = (select ops.current_tenant_id()))', t);
  end loop;
end
$$;

grant select (id, tenant_id, project_id, project_ref, name, upstream, created_by, created_at)
  on ops.supabase_projects to odooops_app;
grant insert, delete on ops.supabase_projects to odooops_app;
grant update (name, upstream, db_url_enc) on ops.supabase_projects to odooops_app;
grant select (tenant_id, supabase_project_id, name, digest, updated_at) on ops.supabase_secrets to odooops_app;
grant insert, delete on ops.supabase_secrets to odooops_app;
grant update (value_enc, digest, updated_at) on ops.supabase_secrets to odooops_app;
grant select, insert, update, delete on ops.supabase_auth_config to odooops_app;

-- The local Management API is authenticated by its own token, not by a tenant session: it
-- finds the project (and its tenant, for the claims of what follows) by ref.
create function ops.supabase_local_target(p_ref text)
returns table (id uuid, tenant_id uuid, project_id uuid, name text, db_url_enc text, created_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select s.id, s.tenant_id, s.project_id, s.name, s.db_url_enc, s.created_at
    from ops.supabase_projects s
   where s.project_ref = p_ref and s.db_url_enc is not null
$$;
revoke all on function ops.supabase_local_target(text) from public;
grant execute on function ops.supabase_local_target(text) to odooops_app;
