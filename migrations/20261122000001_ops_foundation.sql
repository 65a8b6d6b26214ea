-- Foundation of the `ops` control-plane schema: tenants, users, memberships, projects,
-- environments, branches, audit log, API tokens, login throttling.
--
-- Tenancy is enforced here, not in Rust: the server runs its requests as the non-owner role
-- `odooops_app` (no BYPASSRLS), every tenant-scoped table has RLS enabled and forced, and
-- policies compare `tenant_id` with the tenant claimed in `request.jwt.claims`, which the
-- server sets per transaction with set_config(..., true).

create schema if not exists ops;

-- Roles are cluster-wide: several databases of one cluster (tests, tenants' environments)
-- may run this at the same moment, so a concurrent creator is not an error.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'odooops_app') then
    begin
      create role odooops_app nologin noinherit nobypassrls;
    exception when duplicate_object or unique_violation then
      null;
    end;
  end if;
end
$$;

-- The migrating role switches into odooops_app for request work (`set role`), so it must
-- be a member of it.
do $$
begin
  if not pg_has_role(current_user, 'odooops_app', 'member') then
    begin
      execute format('grant odooops_app to %I', current_user);
    exception when unique_violation or duplicate_object or object_not_in_prerequisite_state then
      null;
    when others then
      if sqlstate <> 'XX000' then raise; end if;  -- "tuple concurrently updated"
    end;
  end if;
end
$$;

grant usage on schema ops to odooops_app;

create type ops.role as enum ('admin', 'sysadmin', 'developer', 'tester', 'pm');
create type ops.stage as enum ('production', 'staging', 'development');

-- ---------------------------------------------------------------------------------------
-- Claims helpers. They read the per-transaction setting; an absent or malformed claim
-- yields null, and `tenant_id = null` is never true, so a request without claims sees nothing.
create function ops.claims() returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

create function ops.current_tenant_id() returns uuid
language plpgsql stable
set search_path = ''
as $$
begin
  return (ops.claims() ->> 'tenant_id')::uuid;
exception when others then
  return null;
end
$$;

create function ops.current_user_id() returns uuid
language plpgsql stable
set search_path = ''
as $$
begin
  return (ops.claims() ->> 'sub')::uuid;
exception when others then
  return null;
end
$$;

create function ops.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

grant execute on function ops.claims(), ops.current_tenant_id(), ops.current_user_id() to odooops_app;

-- ---------------------------------------------------------------------------------------
create table ops.tenants (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text not null check (length(name) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table ops.users (
  id uuid primary key default gen_random_uuid(),
  email text not null check (email ~ '^[^@\s]+@[^@\s]+$' and length(email) <= 254),
  display_name text not null default '' check (length(display_name) <= 200),
  password_hash text not null,
  disabled boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_email_lower_key on ops.users (lower(email));

create table ops.memberships (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  user_id uuid not null references ops.users (id) on delete cascade,
  role ops.role not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, user_id)
);
create index memberships_user_id_idx on ops.memberships (user_id);

create table ops.projects (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  slug text not null check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text not null check (length(name) between 1 and 200),
  repo_url text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, slug),
  -- Target of the composite foreign keys below: a row can only point at a row of its own
  -- tenant (foreign-key checks do not go through RLS, so this must be structural).
  unique (tenant_id, id)
);
create index projects_tenant_id_idx on ops.projects (tenant_id);

create table ops.environments (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  name text not null check (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  stage ops.stage not null,
  branch_name text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (project_id, name),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade
);
create index environments_tenant_id_idx on ops.environments (tenant_id);
create index environments_project_id_idx on ops.environments (tenant_id, project_id);
-- At most one production environment per project.
create unique index environments_one_production_per_project
  on ops.environments (project_id) where stage = 'production';

create table ops.branches (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  environment_id uuid,
  name text not null check (length(name) between 1 and 255),
  head_sha text check (head_sha ~ '^[0-9a-f]{7,64}$'),
  archived_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (project_id, name),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id)
    on delete set null (environment_id)
);
create index branches_tenant_id_idx on ops.branches (tenant_id);
create index branches_project_id_idx on ops.branches (tenant_id, project_id);
create index branches_environment_id_idx on ops.branches (tenant_id, environment_id);

-- Append-only. tenant_id is null only for events that belong to no tenant yet
-- (a failed login for an unknown email).
create table ops.audit_log (
  id bigint generated always as identity primary key,
  tenant_id uuid references ops.tenants (id) on delete restrict,
  actor_id uuid references ops.users (id) on delete set null,
  actor_email text not null default '',
  action text not null check (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
  target text not null default '',
  details jsonb not null default '{}'::jsonb,
  request_id text not null default '',
  ip text not null default '',
  created_at timestamptz not null default now()
);
create index audit_log_tenant_created_idx on ops.audit_log (tenant_id, created_at desc);
create index audit_log_actor_id_idx on ops.audit_log (actor_id);

create table ops.api_tokens (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid,
  created_by uuid references ops.users (id) on delete set null,
  name text not null check (length(name) between 1 and 100),
  prefix text not null,
  token_hash text not null unique,
  role ops.role not null default 'developer',
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade
);
create index api_tokens_tenant_id_idx on ops.api_tokens (tenant_id);
create index api_tokens_project_id_idx on ops.api_tokens (tenant_id, project_id);
create index api_tokens_created_by_idx on ops.api_tokens (created_by);

-- Failed-login bookkeeping per normalized email, shared by every console process.
create table ops.login_throttle (
  email_key text primary key,
  failures integer not null default 0,
  window_started_at timestamptz not null default now(),
  locked_until timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Server-wide secrets (the JWT signing key). Only the owner reads it; never the app role.
create table ops.server_secrets (
  name text primary key,
  value text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

do $$
declare t text;
begin
  foreach t in array array['tenants','users','memberships','projects','environments','branches',
                           'api_tokens','login_throttle','server_secrets']
  loop
    execute format('create trigger touch_updated_at before update on ops.%I
                    for each row execute function ops.touch_updated_at()', t);
  end loop;
end
$$;

-- The audit log refuses edits from anyone, owner included (truncate stays an owner-only tool).
create function ops.audit_log_is_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'ops.audit_log is append-only (% refused)', tg_op
    using errcode = 'insufficient_privilege';
end
$$;
create trigger audit_log_append_only before update or delete on ops.audit_log
  for each row execute function ops.audit_log_is_append_only();

-- ---------------------------------------------------------------------------------------
-- Row-level security. Claim lookups are wrapped in `(select ...)` so PostgreSQL evaluates
-- them once per statement rather than once per row.
alter table ops.tenants enable row level security;
alter table ops.tenants force row level security;
alter table ops.users enable row level security;
alter table ops.users force row level security;
alter table ops.memberships enable row level security;
alter table ops.memberships force row level security;
alter table ops.projects enable row level security;
alter table ops.projects force row level security;
alter table ops.environments enable row level security;
alter table ops.environments force row level security;
alter table ops.branches enable row level security;
alter table ops.branches force row level security;
alter table ops.audit_log enable row level security;
alter table ops.audit_log force row level security;
alter table ops.api_tokens enable row level security;
alter table ops.api_tokens force row level security;
alter table ops.login_throttle enable row level security;
alter table ops.login_throttle force row level security;
alter table ops.server_secrets enable row level security;
alter table ops.server_secrets force row level security;

-- The owner (migrations, CLI, demo loader) is not subject to RLS through `force`, so give it
-- an explicit pass; the app role gets only the tenant-claim policies below.
do $$
declare t text;
begin
  foreach t in array array['tenants','users','memberships','projects','environments','branches',
                           'audit_log','api_tokens','login_throttle','server_secrets']
  loop
    execute format('create policy owner_all on ops.%I for all to %I using (true) with check (true)',
                   t, current_user);
  end loop;
end
$$;

create policy tenant_read on ops.tenants for select to odooops_app
  using (id = (select ops.current_tenant_id()));

create policy users_same_tenant on ops.users for select to odooops_app
  using (
    id = (select ops.current_user_id())
    or exists (select 1 from ops.memberships m
               where m.user_id = users.id and m.tenant_id = (select ops.current_tenant_id()))
  );
-- A user row holds no tenant data; anyone logged in may create one, but reading it back
-- needs a membership in the caller's tenant (the policy above).
create policy users_insert on ops.users for insert to odooops_app
  with check ((select ops.current_tenant_id()) is not null);
create policy users_update_same_tenant on ops.users for update to odooops_app
  using (
    id = (select ops.current_user_id())
    or exists (select 1 from ops.memberships m
               where m.user_id = users.id and m.tenant_id = (select ops.current_tenant_id()))
  );

do $$
declare t text;
begin
  foreach t in array array['memberships','projects','environments','branches','api_tokens']
  loop
    execute format('create policy tenant_isolation on ops.%I for all to odooops_app
                    using (tenant_id = (select ops.current_tenant_id()))
                    with check (tenant_id = (select ops.current_tenant_id()))', t);
  end loop;
end
$$;

create policy audit_read on ops.audit_log for select to odooops_app
  using (tenant_id = (select ops.current_tenant_id()));
create policy audit_append on ops.audit_log for insert to odooops_app
  with check (tenant_id = (select ops.current_tenant_id()));

grant select on ops.tenants to odooops_app;
-- password_hash is readable by no request: login reads it through ops.auth_lookup only.
grant select (id, email, display_name, disabled, created_at, updated_at) on ops.users to odooops_app;
grant insert (id, email, display_name, password_hash) on ops.users to odooops_app;
grant update (display_name, disabled) on ops.users to odooops_app;
grant select, insert, update, delete on ops.memberships, ops.projects, ops.environments,
  ops.branches to odooops_app;
grant select, insert, update on ops.api_tokens to odooops_app;
grant select, insert on ops.audit_log to odooops_app;
-- No grant at all on login_throttle or server_secrets: only the definer functions below.

-- ---------------------------------------------------------------------------------------
-- Authentication entry points. They run before any tenant is claimed, so they are
-- SECURITY DEFINER with an empty search_path and return only what login needs.

-- Looks up a login; records the attempt's outcome in the throttle and the audit log.
create function ops.auth_lookup(p_email text)
returns table (user_id uuid, password_hash text, disabled boolean, locked_until timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select u.id, u.password_hash, u.disabled,
         (select t.locked_until from ops.login_throttle t
           where t.email_key = lower(p_email) and t.locked_until > now())
    from ops.users u
   where lower(u.email) = lower(p_email)
  union all
  select null::uuid, null::text, false,
         (select t.locked_until from ops.login_throttle t
           where t.email_key = lower(p_email) and t.locked_until > now())
   where not exists (select 1 from ops.users u where lower(u.email) = lower(p_email))
$$;

-- Memberships of a user, for choosing the tenant at login.
create function ops.auth_memberships(p_user_id uuid)
returns table (tenant_id uuid, tenant_slug text, tenant_name text, role ops.role)
language sql stable security definer
set search_path = ''
as $$
  select m.tenant_id, t.slug, t.name, m.role
    from ops.memberships m join ops.tenants t on t.id = m.tenant_id
   where m.user_id = p_user_id
   order by m.created_at, t.slug
$$;

-- Records a failed login: after p_max failures within p_window the email is locked for
-- p_lock. Returns the lock expiry when the email is (now) locked.
create function ops.auth_record_failure(p_email text, p_max integer, p_window interval,
                                        p_lock interval)
returns timestamptz
language plpgsql security definer
set search_path = ''
as $$
declare
  v ops.login_throttle;
begin
  insert into ops.login_throttle as t (email_key, failures, window_started_at)
  values (lower(p_email), 1, now())
  on conflict (email_key) do update
     set failures = case when t.window_started_at < now() - p_window then 1 else t.failures + 1 end,
         window_started_at = case when t.window_started_at < now() - p_window then now()
                                  else t.window_started_at end
  returning * into v;
  if v.failures >= p_max then
    update ops.login_throttle set locked_until = now() + p_lock, failures = 0,
                                  window_started_at = now()
     where email_key = v.email_key
     returning locked_until into v.locked_until;
    return v.locked_until;
  end if;
  return null;
end
$$;

create function ops.auth_record_success(p_email text) returns void
language sql security definer
set search_path = ''
as $$
  delete from ops.login_throttle where email_key = lower(p_email)
$$;

-- Audit events that happen outside a tenant claim (login, logout). The tenant is only
-- recorded when the user really is a member of it.
create function ops.audit_auth_event(p_action text, p_user_id uuid, p_email text,
                                     p_tenant_id uuid, p_details jsonb, p_request_id text,
                                     p_ip text)
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_action not in ('auth.login_succeeded', 'auth.login_failed', 'auth.login_locked',
                      'auth.logout', 'auth.session_refreshed') then
    raise exception 'audit_auth_event: action % not allowed', p_action;
  end if;
  insert into ops.audit_log (tenant_id, actor_id, actor_email, action, target, details,
                             request_id, ip)
  values (
    case when p_tenant_id is not null and exists (
      select 1 from ops.memberships m where m.tenant_id = p_tenant_id and m.user_id = p_user_id)
      then p_tenant_id end,
    case when exists (select 1 from ops.users u where u.id = p_user_id) then p_user_id end,
    left(coalesce(p_email, ''), 254), p_action, left(coalesce(p_email, ''), 254),
    coalesce(p_details, '{}'::jsonb), left(coalesce(p_request_id, ''), 64),
    left(coalesce(p_ip, ''), 64));
end
$$;

-- Resolves a machine API token (by its sha256) to its tenant and scope, and stamps its use.
create function ops.auth_api_token(p_token_hash text)
returns table (token_id uuid, tenant_id uuid, project_id uuid, role ops.role, name text)
language sql volatile security definer
set search_path = ''
as $$
  update ops.api_tokens t set last_used_at = now()
   where t.token_hash = p_token_hash and t.revoked_at is null
     and (t.expires_at is null or t.expires_at > now())
  returning t.id, t.tenant_id, t.project_id, t.role, t.name
$$;

revoke all on function ops.auth_lookup(text), ops.auth_memberships(uuid),
  ops.auth_record_failure(text, integer, interval, interval), ops.auth_record_success(text),
  ops.audit_auth_event(text, uuid, text, uuid, jsonb, text, text), ops.auth_api_token(text)
  from public;
grant execute on function ops.auth_lookup(text), ops.auth_memberships(uuid),
  ops.auth_record_failure(text, integer, interval, interval), ops.auth_record_success(text),
  ops.audit_auth_event(text, uuid, text, uuid, jsonb, text, text), ops.auth_api_token(text)
  to odooops_app;

comment on function ops.auth_lookup(text) is
  'SECURITY DEFINER: login runs before a tenant is claimed; returns only the hash and lock state.';
comment on function ops.auth_memberships(uuid) is
  'SECURITY DEFINER: lists the tenants a user may claim at login.';
comment on function ops.auth_record_failure(text, integer, interval, interval) is
  'SECURITY DEFINER: brute-force throttle shared by all console processes.';
comment on function ops.auth_record_success(text) is
  'SECURITY DEFINER: clears the throttle after a successful login.';
comment on function ops.audit_auth_event(text, uuid, text, uuid, jsonb, text, text) is
  'SECURITY DEFINER: audits login/logout, which happen outside a tenant claim.';
comment on function ops.auth_api_token(text) is
  'SECURITY DEFINER: resolves a hashed machine token before any tenant is claimed.';
