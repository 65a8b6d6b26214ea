-- Promotions (issue 5): a successful build moves development -> staging -> production
-- through preflight gates and approvals; environments record the build they run.
--
-- The state machine lives in Rust (`app::models::promotions`); every transition is an
-- `update ... where state = any(<allowed sources>)`, so two consoles cannot both move one
-- request. `promotion_events` is the timeline: rows are only ever added.

create type ops.promotion_state as enum (
  'requested', 'preflight_running', 'preflight_failed', 'awaiting_approval', 'approved',
  'promoting', 'promoted', 'failed', 'rejected', 'cancelled');
create type ops.promotion_kind as enum ('promotion', 'rollback');

-- ---------------------------------------------------------------------------------------
-- Project policy: approvals needed, whether development may skip staging, gate thresholds.
alter table ops.projects
  add column required_approvals integer not null default 1 check (required_approvals between 1 and 5),
  add column allow_dev_to_production boolean not null default false,
  add column gate_settings jsonb not null default '{}'::jsonb
    check (jsonb_typeof(gate_settings) = 'object' and length(gate_settings::text) <= 20000),
  add column promotion_seq bigint not null default 0;
grant select (required_approvals, allow_dev_to_production, gate_settings, promotion_seq) on ops.projects to odooops_app;
grant update (required_approvals, allow_dev_to_production, gate_settings, promotion_seq) on ops.projects to odooops_app;

-- What an environment runs. `database_name` is a database on the console's own PostgreSQL
-- server (gates read it; neutralization and backups work on it). The instance columns
-- describe the app process the embedded runner keeps for the environment.
alter table ops.environments
  add column database_name text check (database_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
  add column build_id uuid,
  add column previous_build_id uuid,
  add column deployed_at timestamptz,
  add column instance_state text not null default 'none'
    check (instance_state in ('none', 'starting', 'running', 'failed', 'stopped')),
  add column instance_port integer check (instance_port between 1 and 65535),
  add column instance_worker text not null default '',
  add column instance_detail text not null default '',
  add constraint environments_build_fk foreign key (tenant_id, build_id)
    references ops.builds (tenant_id, id) on delete set null (build_id),
  add constraint environments_previous_build_fk foreign key (tenant_id, previous_build_id)
    references ops.builds (tenant_id, id) on delete set null (previous_build_id);
create unique index environments_database_name_key on ops.environments (database_name);
create index environments_build_id_idx on ops.environments (tenant_id, build_id);
create index environments_previous_build_id_idx on ops.environments (tenant_id, previous_build_id);

-- ---------------------------------------------------------------------------------------
create table ops.promotions (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  number bigint not null,
  kind ops.promotion_kind not null default 'promotion',
  source_env_id uuid,
  target_env_id uuid not null,
  build_id uuid not null,
  -- What the target ran when the request was made (the diff base, the rollback target).
  previous_build_id uuid,
  rollback_of uuid,
  state ops.promotion_state not null default 'requested',
  required_approvals integer not null check (required_approvals between 0 and 5),
  refresh_data boolean not null default false,
  requested_by uuid references ops.users (id) on delete set null,
  requested_by_email text not null,
  note text not null default '' check (length(note) <= 2000),
  override_reason text not null default '' check (length(override_reason) <= 2000),
  overridden_by_email text not null default '',
  gates_overall text not null default '' check (gates_overall in ('', 'pass', 'warn', 'fail', 'skipped')),
  -- Commits between the target's build and this one, found during preflight.
  commits jsonb not null default '[]'::jsonb,
  error text not null default '',
  worker text not null default '',
  heartbeat_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  unique (project_id, number),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, source_env_id) references ops.environments (tenant_id, id) on delete set null (source_env_id),
  foreign key (tenant_id, target_env_id) references ops.environments (tenant_id, id) on delete cascade,
  foreign key (tenant_id, build_id) references ops.builds (tenant_id, id) on delete cascade,
  foreign key (tenant_id, previous_build_id) references ops.builds (tenant_id, id) on delete set null (previous_build_id),
  foreign key (tenant_id, rollback_of) references ops.promotions (tenant_id, id) on delete set null (rollback_of)
);
create index promotions_project_idx on ops.promotions (tenant_id, project_id, created_at desc);
create index promotions_target_idx on ops.promotions (tenant_id, target_env_id);
create index promotions_source_idx on ops.promotions (tenant_id, source_env_id);
create index promotions_build_idx on ops.promotions (tenant_id, build_id);
create index promotions_previous_build_idx on ops.promotions (tenant_id, previous_build_id);
create index promotions_rollback_of_idx on ops.promotions (tenant_id, rollback_of);
create index promotions_requested_by_idx on ops.promotions (requested_by);
-- One open request per target environment at a time.
create unique index promotions_one_open_per_target on ops.promotions (target_env_id)
  where state in ('requested', 'preflight_running', 'preflight_failed', 'awaiting_approval', 'approved', 'promoting');
-- The worker's queue: only rows a worker may pick up.
create index promotions_queue_idx on ops.promotions (created_at)
  where state in ('requested', 'preflight_running', 'approved', 'promoting');

create table ops.promotion_approvals (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  promotion_id uuid not null,
  user_id uuid not null references ops.users (id) on delete cascade,
  user_email text not null,
  decision text not null check (decision in ('approve', 'reject')),
  reason text not null default '' check (length(reason) <= 2000),
  created_at timestamptz not null default now(),
  unique (promotion_id, user_id),
  check (decision = 'approve' or length(btrim(reason)) > 0),
  foreign key (tenant_id, promotion_id) references ops.promotions (tenant_id, id) on delete cascade
);
create index promotion_approvals_promotion_idx on ops.promotion_approvals (tenant_id, promotion_id);
create index promotion_approvals_user_idx on ops.promotion_approvals (user_id);

-- The requester never approves their own request, whatever the caller does.
create function ops.approval_not_by_requester() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if exists (select 1 from ops.promotions p
              where p.id = new.promotion_id and p.requested_by = new.user_id) then
    raise exception 'the requester cannot approve or reject their own promotion'
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger promotion_approvals_not_by_requester before insert or update on ops.promotion_approvals
  for each row execute function ops.approval_not_by_requester();

-- Timeline: each transition with who and why.
create table ops.promotion_events (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  promotion_id uuid not null,
  state ops.promotion_state not null,
  message text not null default '' check (length(message) <= 4000),
  actor_email text not null default '',
  created_at timestamptz not null default now(),
  foreign key (tenant_id, promotion_id) references ops.promotions (tenant_id, id) on delete cascade
);
create index promotion_events_promotion_idx on ops.promotion_events (tenant_id, promotion_id, id);

-- Gate results: per build (after every build) and per promotion (preflight).
create table ops.gate_results (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  build_id uuid not null,
  promotion_id uuid,
  environment_id uuid,
  gate text not null check (gate in ('extensions', 'object_count', 'cron_runtime', 'system_packages', 'smtp', 'long_lived_connections')),
  status text not null check (status in ('pass', 'warn', 'fail', 'skipped')),
  summary text not null default '',
  explanation text not null default '',
  fix text not null default '',
  evidence jsonb not null default '[]'::jsonb,
  created_at timestamptz not null default now(),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, build_id) references ops.builds (tenant_id, id) on delete cascade,
  foreign key (tenant_id, promotion_id) references ops.promotions (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id) on delete set null (environment_id)
);
create index gate_results_build_idx on ops.gate_results (tenant_id, build_id, id);
create index gate_results_promotion_idx on ops.gate_results (tenant_id, promotion_id, id);
create index gate_results_project_idx on ops.gate_results (tenant_id, project_id);
create index gate_results_environment_idx on ops.gate_results (tenant_id, environment_id);

-- Things people must know about (a cron job disabled by a gate, an automatic rollback).
create table ops.notifications (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  environment_id uuid,
  level text not null check (level in ('info', 'warning', 'error')),
  title text not null check (length(title) between 1 and 300),
  body text not null default '' check (length(body) <= 8000),
  created_at timestamptz not null default now(),
  read_at timestamptz,
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id) on delete cascade
);
create index notifications_project_idx on ops.notifications (tenant_id, project_id, created_at desc);
create index notifications_environment_idx on ops.notifications (tenant_id, environment_id);

create trigger touch_updated_at before update on ops.promotions
  for each row execute function ops.touch_updated_at();

do $$
declare t text;
begin
  foreach t in array array['promotions', 'promotion_approvals', 'promotion_events', 'gate_results', 'notifications']
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

grant select, insert, update on ops.promotions, ops.notifications to odooops_app;
grant select, insert on ops.promotion_approvals, ops.promotion_events, ops.gate_results to odooops_app;
grant usage on sequence ops.promotion_events_id_seq, ops.gate_results_id_seq, ops.notifications_id_seq to odooops_app;

-- Workers and open pages are told at commit: {t, p, id, s} (tenant, project, promotion, state).
create function ops.notify_promotions() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('ops_promotions', json_build_object('t', new.tenant_id, 'p', new.project_id, 'id', new.id, 's', new.state)::text);
  return null;
end
$$;
create trigger promotions_notify after insert or update of state on ops.promotions
  for each row execute function ops.notify_promotions();

-- A worker does not know whose promotion is next and sees nothing under RLS without a
-- tenant: this takes one row that needs work (a new request to preflight, an approved one
-- to deploy, or one whose worker stopped answering) and hands back its ids.
create function ops.claim_promotion(p_worker text, p_stale interval)
returns table (promotion_id uuid, tenant_id uuid, state ops.promotion_state)
language plpgsql
security definer
set search_path = ''
as $$
declare r record;
begin
  select p.id, p.tenant_id, p.state into r
    from ops.promotions p
   where p.state in ('requested', 'approved')
      or (p.state in ('preflight_running', 'promoting') and p.heartbeat_at < now() - p_stale)
   order by p.created_at
   for update skip locked
   limit 1;
  if not found then
    return;
  end if;
  update ops.promotions p
     set state = case when r.state in ('requested', 'preflight_running') then 'preflight_running'::ops.promotion_state
                      else 'promoting'::ops.promotion_state end,
         worker = p_worker,
         heartbeat_at = now(),
         started_at = coalesce(p.started_at, now())
   where p.id = r.id;
  return query select r.id, r.tenant_id,
    case when r.state in ('requested', 'preflight_running') then 'preflight_running'::ops.promotion_state
         else 'promoting'::ops.promotion_state end;
end
$$;
comment on function ops.claim_promotion(text, interval) is
  'Promotion workers run without a tenant: takes the next request to preflight or deploy (skip locked) and returns its ids; the work then runs under that tenant''s claims.';
revoke all on function ops.claim_promotion(text, interval) from public;
grant execute on function ops.claim_promotion(text, interval) to odooops_app;
