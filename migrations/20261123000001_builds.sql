-- Builds: webhook deliveries, the build queue, previews and the run-event log.
--
-- Same tenancy rules as the foundation: every table carries tenant_id with composite
-- foreign keys, RLS is enabled and forced, and the app role sees only its claimed tenant.
-- The few entry points that run before a tenant is known (a webhook, the queue claim,
-- a shared preview link) are SECURITY DEFINER functions that return only what they must.

create type ops.build_state as enum ('pending', 'running', 'success', 'warning', 'failed', 'cancelled');
create type ops.build_trigger as enum ('push', 'pull_request', 'manual', 'ci');
-- `embedded`: run by a console's runner; `external`: reported by a CI through the API.
create type ops.build_runner as enum ('embedded', 'external');
create type ops.failure_kind as enum ('build', 'infrastructure', 'timeout', 'cancelled');
create type ops.log_level as enum ('debug', 'info', 'warning', 'error');
create type ops.preview_state as enum ('starting', 'running', 'stopped', 'failed');
create type ops.delivery_outcome as enum ('accepted', 'ignored', 'duplicate', 'rejected');

-- ---------------------------------------------------------------------------------------
-- Project build settings. The webhook secret is write-only for requests (column grants
-- below): it is shown once when set, and only the definer function reads it back.
alter table ops.projects
  add column webhook_secret text not null default '',
  add column default_steps text not null default '' check (length(default_steps) <= 20000),
  add column preview_limit integer not null default 3 check (preview_limit between 0 and 50),
  add column build_seq bigint not null default 0;

revoke select, update on ops.projects from odooops_app;
grant select (id, tenant_id, slug, name, repo_url, default_steps, preview_limit, build_seq,
              created_at, updated_at) on ops.projects to odooops_app;
grant update (name, repo_url, webhook_secret, default_steps, preview_limit, build_seq)
  on ops.projects to odooops_app;

alter table ops.branches
  add constraint branches_tenant_id_id_key unique (tenant_id, id),
  add column pr_number integer check (pr_number > 0),
  -- Stable path segment of the branch's preview URL (unique across tenants).
  add column preview_slug text unique check (preview_slug ~ '^[a-z0-9][a-z0-9-]{2,80}$');

-- ---------------------------------------------------------------------------------------
create table ops.builds (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  branch_id uuid not null,
  number bigint not null,
  sha text not null check (sha ~ '^[0-9a-f]{7,64}$'),
  message text not null default '' check (length(message) <= 4000),
  author text not null default '' check (length(author) <= 200),
  trigger ops.build_trigger not null,
  runner ops.build_runner not null default 'embedded',
  pr_number integer,
  state ops.build_state not null default 'pending',
  failure ops.failure_kind,
  failed_step text,
  error text not null default '' check (length(error) <= 2000),
  attempt integer not null default 0,
  not_before timestamptz not null default now(),
  worker text,
  heartbeat_at timestamptz,
  cancel_requested boolean not null default false,
  has_start boolean not null default false,
  superseded_by uuid,
  requested_by uuid references ops.users (id) on delete set null,
  delivery_guid text,
  -- `owner/name` on GitHub, for posting the commit status back.
  repo_full_name text not null default '' check (length(repo_full_name) <= 200),
  queued_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (project_id, number),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, branch_id) references ops.branches (tenant_id, id) on delete cascade
);
create index builds_tenant_id_idx on ops.builds (tenant_id);
create index builds_branch_recent_idx on ops.builds (tenant_id, branch_id, number desc);
create index builds_project_recent_idx on ops.builds (tenant_id, project_id, number desc);
create index builds_requested_by_idx on ops.builds (requested_by);
-- The queue: only claimable rows are indexed, so the claim stays cheap however long the history.
create index builds_queue_idx on ops.builds (not_before, queued_at)
  where runner = 'embedded' and state in ('pending', 'running');

create table ops.webhook_deliveries (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  delivery_guid text not null default '' check (length(delivery_guid) <= 100),
  event text not null default '' check (length(event) <= 100),
  signature_ok boolean not null,
  outcome ops.delivery_outcome not null,
  detail text not null default '' check (length(detail) <= 1000),
  build_id uuid,
  payload_bytes integer not null default 0,
  redeliveries integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, build_id) references ops.builds (tenant_id, id) on delete set null (build_id)
);
create index webhook_deliveries_project_idx on ops.webhook_deliveries (tenant_id, project_id, id desc);
create index webhook_deliveries_build_idx on ops.webhook_deliveries (tenant_id, build_id);
-- Idempotency: one verified delivery per GUID per project.
create unique index webhook_deliveries_guid_key on ops.webhook_deliveries (project_id, delivery_guid)
  where signature_ok and delivery_guid <> '';

create table ops.previews (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  branch_id uuid not null,
  build_id uuid not null,
  state ops.preview_state not null default 'starting',
  host text not null default '127.0.0.1',
  port integer check (port between 1 and 65535),
  worker text not null default '',
  stop_reason text not null default '',
  started_at timestamptz not null default now(),
  last_access_at timestamptz not null default now(),
  stopped_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, branch_id) references ops.branches (tenant_id, id) on delete cascade,
  foreign key (tenant_id, build_id) references ops.builds (tenant_id, id) on delete cascade
);
create index previews_tenant_id_idx on ops.previews (tenant_id);
create index previews_branch_idx on ops.previews (tenant_id, branch_id, started_at desc);
create index previews_build_idx on ops.previews (tenant_id, build_id);
create index previews_live_idx on ops.previews (project_id, started_at) where state in ('starting', 'running');

-- Every log line of builds, CI jobs and running apps. `tx` is the writing transaction's id:
-- readers page by (tx, id) and only past the oldest still-running writer, so a live tail
-- never skips a row that commits late and never repeats one (see server/src/logs).
-- Every line belongs to a build or an environment, whose composite keys already tie it to
-- its tenant; a separate key to ops.tenants would only cost ingest time (~8%).
create table ops.run_events (
  id bigint generated always as identity primary key,
  tenant_id uuid not null,
  job_id uuid,
  env_id uuid,
  level ops.log_level not null default 'info',
  source text not null check (source ~ '^[a-z][a-z0-9_.:-]{0,62}$'),
  message text not null,
  meta jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  tx xid8 not null default pg_current_xact_id(),
  check (job_id is not null or env_id is not null),
  foreign key (tenant_id, job_id) references ops.builds (tenant_id, id) on delete cascade,
  foreign key (tenant_id, env_id) references ops.environments (tenant_id, id) on delete cascade
);
create index run_events_tenant_tx_idx on ops.run_events (tenant_id, tx, id);
create index run_events_job_tx_idx on ops.run_events (job_id, tx, id) where job_id is not null;
create index run_events_env_tx_idx on ops.run_events (env_id, tx, id) where env_id is not null;
-- No full-text (GIN) index: log lines are full of distinct tokens (numbers, hashes, paths) and
-- such an index cost ~60% of ingest time, halving throughput (spec/odooops/benchmarks.md).
-- Search runs within the lines the other filters select, newest first, and stops when a page
-- is full.

do $$
declare t text;
begin
  foreach t in array array['builds', 'webhook_deliveries', 'previews']
  loop
    execute format('create trigger touch_updated_at before update on ops.%I
                    for each row execute function ops.touch_updated_at()', t);
  end loop;
  foreach t in array array['builds', 'webhook_deliveries', 'previews', 'run_events']
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

grant select, insert, update on ops.builds, ops.webhook_deliveries, ops.previews to odooops_app;
grant select, insert on ops.run_events to odooops_app;
grant usage on sequence ops.webhook_deliveries_id_seq, ops.run_events_id_seq to odooops_app;

-- ---------------------------------------------------------------------------------------
-- Notifications. One per statement, not per row, so a 5,000-line batch costs one NOTIFY.
-- They carry ids only; listeners read the rows under their own tenant claims.
create function ops.notify_run_events() returns trigger
language plpgsql
set search_path = ''
as $$
declare r record;
begin
  for r in select n.tenant_id, n.job_id, n.env_id, max(n.id) as max_id
             from new_rows n group by n.tenant_id, n.job_id, n.env_id
  loop
    perform pg_notify('ops_run_events', json_build_object(
      't', r.tenant_id, 'j', r.job_id, 'e', r.env_id, 'id', r.max_id)::text);
  end loop;
  return null;
end
$$;
create trigger run_events_notify after insert on ops.run_events
  referencing new table as new_rows
  for each statement execute function ops.notify_run_events();

create function ops.notify_builds() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('ops_builds', json_build_object(
    't', new.tenant_id, 'p', new.project_id, 'b', new.id, 's', new.state,
    'c', new.cancel_requested)::text);
  return null;
end
$$;
create trigger builds_notify after insert or update of state, cancel_requested, sha, started_at
  on ops.builds for each row execute function ops.notify_builds();

-- ---------------------------------------------------------------------------------------
-- Definer entry points (no tenant is claimed when they run).

-- The project a webhook names, with its secret, for signature verification.
create function ops.webhook_target(p_project_id uuid)
returns table (tenant_id uuid, webhook_secret text)
language sql stable security definer
set search_path = ''
as $$
  select p.tenant_id, p.webhook_secret from ops.projects p where p.id = p_project_id
$$;

-- Whether the claimed tenant's project has a webhook secret (requests cannot read the secret).
create function ops.webhook_secret_set(p_project_id uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (select 1 from ops.projects p
                  where p.id = p_project_id and p.tenant_id = ops.current_tenant_id()
                    and p.webhook_secret <> '')
$$;

-- Claims the next runnable embedded build for p_worker (FOR UPDATE SKIP LOCKED, so two
-- console processes never take the same build). A running build whose worker stopped
-- sending heartbeats for p_stale is taken over as a retry.
create function ops.claim_build(p_worker text, p_stale interval)
returns table (build_id uuid, tenant_id uuid, attempt integer, taken_over boolean)
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_state ops.build_state;
begin
  select b.id, b.state into v_id, v_state
    from ops.builds b
   where b.runner = 'embedded'
     and ((b.state = 'pending' and b.not_before <= now())
          or (b.state = 'running' and b.heartbeat_at < now() - p_stale))
   order by b.not_before, b.queued_at
   limit 1
   for update skip locked;
  if v_id is null then
    return;
  end if;
  return query
    update ops.builds b
       set state = 'running', worker = p_worker, heartbeat_at = now(), started_at = now(),
           finished_at = null,
           attempt = b.attempt + case when v_state = 'running' then 1 else 0 end
     where b.id = v_id
    returning b.id, b.tenant_id, b.attempt, v_state = 'running';
end
$$;

-- A live preview by its branch slug, for the proxy (a shared link carries no session).
create function ops.preview_target(p_slug text)
returns table (tenant_id uuid, project_id uuid, branch_id uuid, build_id uuid, preview_id uuid,
               state ops.preview_state, host text, port integer)
language sql stable security definer
set search_path = ''
as $$
  select br.tenant_id, br.project_id, br.id, pv.build_id, pv.id, pv.state, pv.host, pv.port
    from ops.branches br
    left join lateral (
      select * from ops.previews p
       where p.branch_id = br.id and p.tenant_id = br.tenant_id
       order by (p.state in ('starting', 'running')) desc, p.started_at desc
       limit 1) pv on true
   where br.preview_slug = p_slug
$$;

revoke all on function ops.webhook_target(uuid), ops.claim_build(text, interval),
  ops.preview_target(text), ops.webhook_secret_set(uuid) from public;
grant execute on function ops.webhook_target(uuid), ops.claim_build(text, interval),
  ops.preview_target(text), ops.webhook_secret_set(uuid) to odooops_app;
