-- Backups and restores (issue 7): a backup is a database dump, a file-store archive and a
-- manifest in the project's storage; it is listed as good only once it has been written,
-- read back and verified. Jobs (backups and restores) are claimed from these tables by any
-- console (skip locked), like builds, with heartbeats that carry progress and cancel requests.

create type ops.backup_kind as enum ('scheduled', 'manual', 'safety');
create type ops.backup_state as enum (
  'pending', 'running', 'verifying', 'good', 'failed', 'cancelled', 'missed', 'deleting', 'deleted');
create type ops.restore_mode as enum ('staging', 'production');
create type ops.restore_state as enum (
  'pending', 'safety_backup', 'restoring', 'neutralizing', 'switching', 'succeeded', 'failed', 'cancelled');

-- Storage per project: {"kind":"local"} (under the console's backup directory, never a path a
-- tenant chooses) or {"kind":"s3","bucket":..,"prefix":..,"endpoint":..,"region":..,
-- "allow_http":..,"access_key_id":..}. The S3 secret key is write-only for the app role: it is
-- read back only by ops.backup_s3_secret(), on the server.
alter table ops.projects
  add column backup_storage jsonb not null default '{"kind":"local"}'::jsonb
    check (jsonb_typeof(backup_storage) = 'object' and length(backup_storage::text) <= 4000),
  add column backup_s3_secret text not null default '' check (length(backup_s3_secret) <= 500),
  -- pg_dump -Z level (PostgreSQL 15 has gzip only); 1 is fast and close to 6 in size.
  add column backup_compression integer not null default 1 check (backup_compression between 0 and 9),
  add column time_zone text not null default 'UTC' check (length(time_zone) between 1 and 64);
grant select (backup_storage, backup_compression, time_zone) on ops.projects to odooops_app;
grant update (backup_storage, backup_s3_secret, backup_compression, time_zone) on ops.projects to odooops_app;

alter table ops.environments
  -- The environment's Odoo data directory: its file store is <data_dir>/filestore/<database>.
  add column data_dir text check (data_dir is null or (data_dir ~ '^/' and length(data_dir) <= 1000)),
  add column last_good_backup_at timestamptz;

-- The restore that asked for a neutralization (promotions use promotion_id).
alter table ops.neutralize_runs add column restore_id uuid;

-- One schedule per environment. Production's is created enabled (daily at the console's
-- default hour) by the scheduler; staging and development start disabled and are best-effort.
create table ops.backup_schedules (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  environment_id uuid not null,
  cron text not null check (length(cron) between 9 and 100),
  time_zone text not null default 'UTC' check (length(time_zone) between 1 and 64),
  enabled boolean not null default true,
  -- Grandfather-father-son: how many daily, weekly and monthly backups to keep.
  keep_daily integer not null default 7 check (keep_daily between 1 and 400),
  keep_weekly integer not null default 4 check (keep_weekly between 0 and 260),
  keep_monthly integer not null default 3 check (keep_monthly between 0 and 120),
  next_run_at timestamptz,
  last_scheduled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (environment_id),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id) on delete cascade
);
create index backup_schedules_project_idx on ops.backup_schedules (tenant_id, project_id);
create index backup_schedules_due_idx on ops.backup_schedules (next_run_at) where enabled;

create table ops.backups (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  environment_id uuid not null,
  kind ops.backup_kind not null,
  state ops.backup_state not null default 'pending',
  phase text not null default '' check (length(phase) <= 200),
  schedule_id uuid,
  scheduled_for timestamptz,
  attempt integer not null default 0 check (attempt between 0 and 10),
  requested_by uuid references ops.users (id) on delete set null,
  requested_by_email text not null default '',
  reason text not null default '' check (length(reason) <= 2000),
  -- Where the parts are: the storage settings when it started (no secrets) and the key prefix.
  storage jsonb not null default '{}'::jsonb,
  location text not null default '' check (length(location) <= 1000),
  database_name text check (database_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
  pg_version text not null default '',
  db_size_bytes bigint,
  bytes_done bigint not null default 0,
  bytes_expected bigint,
  files_done bigint not null default 0,
  files_total bigint,
  dump_bytes bigint,
  dump_sha256 text check (dump_sha256 ~ '^[0-9a-f]{64}$'),
  files_bytes bigint,
  files_sha256 text check (files_sha256 ~ '^[0-9a-f]{64}$'),
  files_count bigint,
  manifest_sha256 text check (manifest_sha256 ~ '^[0-9a-f]{64}$'),
  toc_entries integer,
  error text not null default '' check (length(error) <= 4000),
  worker text not null default '',
  heartbeat_at timestamptz,
  cancel_requested boolean not null default false,
  -- Safety backups are kept at least this long whatever the retention says.
  pinned_until timestamptz,
  queued_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  verified_at timestamptz,
  deleted_at timestamptz,
  unique (tenant_id, id),
  -- A good backup has everything a restore checks.
  check (state <> 'good' or (dump_sha256 is not null and manifest_sha256 is not null and verified_at is not null)),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id) on delete cascade,
  foreign key (tenant_id, schedule_id) references ops.backup_schedules (tenant_id, id) on delete set null (schedule_id)
);
create index backups_environment_idx on ops.backups (tenant_id, environment_id, queued_at desc);
create index backups_project_idx on ops.backups (tenant_id, project_id, queued_at desc);
create index backups_schedule_idx on ops.backups (tenant_id, schedule_id);
create index backups_requested_by_idx on ops.backups (requested_by);
-- The scheduler inserts each slot once, whichever console gets there first.
create unique index backups_one_per_slot on ops.backups (schedule_id, scheduled_for, attempt)
  where schedule_id is not null and scheduled_for is not null;
-- At most one backup in progress per environment.
create unique index backups_one_open_per_environment on ops.backups (environment_id)
  where state in ('pending', 'running', 'verifying');
create index backups_queue_idx on ops.backups (queued_at) where state in ('pending', 'running', 'verifying');

create table ops.restores (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  backup_id uuid not null,
  target_environment_id uuid not null,
  mode ops.restore_mode not null,
  state ops.restore_state not null default 'pending',
  phase text not null default '' check (length(phase) <= 200),
  safety_backup_id uuid,
  -- Recorded before the database is created, so a crash leaves a name to clean up.
  new_database text check (new_database ~ '^[a-z_][a-z0-9_]{0,62}$'),
  previous_database text check (previous_database ~ '^[a-z_][a-z0-9_]{0,62}$'),
  previous_dropped_at timestamptz,
  neutralize_run_id uuid,
  requested_by uuid references ops.users (id) on delete set null,
  requested_by_email text not null default '',
  reason text not null default '' check (length(reason) <= 2000),
  bytes_done bigint not null default 0,
  bytes_expected bigint,
  error text not null default '' check (length(error) <= 4000),
  worker text not null default '',
  heartbeat_at timestamptz,
  cancel_requested boolean not null default false,
  queued_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  unique (tenant_id, id),
  check (mode = 'staging' or length(btrim(reason)) > 0),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, backup_id) references ops.backups (tenant_id, id) on delete restrict,
  foreign key (tenant_id, target_environment_id) references ops.environments (tenant_id, id) on delete cascade,
  foreign key (tenant_id, safety_backup_id) references ops.backups (tenant_id, id) on delete set null (safety_backup_id)
);
create index restores_project_idx on ops.restores (tenant_id, project_id, queued_at desc);
create index restores_backup_idx on ops.restores (tenant_id, backup_id);
create index restores_target_idx on ops.restores (tenant_id, target_environment_id);
create index restores_safety_idx on ops.restores (tenant_id, safety_backup_id);
create index restores_requested_by_idx on ops.restores (requested_by);
create unique index restores_one_open_per_target on ops.restores (target_environment_id)
  where state in ('pending', 'safety_backup', 'restoring', 'neutralizing', 'switching');
create index restores_queue_idx on ops.restores (queued_at)
  where state in ('pending', 'safety_backup', 'restoring', 'neutralizing', 'switching');

create trigger touch_updated_at before update on ops.backup_schedules
  for each row execute function ops.touch_updated_at();

do $$
declare t text;
begin
  foreach t in array array['backup_schedules', 'backups', 'restores']
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
grant select, insert, update on ops.backup_schedules, ops.backups, ops.restores to odooops_app;

-- Progress bars follow these: {k: backup|restore, t, p, e, id, s}. Byte counters change with
-- each heartbeat (every 2 s per running job), which is what the bars need.
create function ops.notify_backups() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('ops_backups', json_build_object(
    'k', tg_argv[0], 't', new.tenant_id, 'p', new.project_id,
    'e', case when tg_argv[0] = 'backup' then (to_jsonb(new) ->> 'environment_id')
              else (to_jsonb(new) ->> 'target_environment_id') end,
    'id', new.id, 's', new.state)::text);
  return null;
end
$$;
create trigger backups_notify after insert or update of state, bytes_done, phase on ops.backups
  for each row execute function ops.notify_backups('backup');
create trigger restores_notify after insert or update of state, bytes_done, phase on ops.restores
  for each row execute function ops.notify_backups('restore');

-- Workers run without a tenant. A stale job (its console stopped) cannot be resumed, a dump
-- stream has no restart point, so it is failed and handed out as a cleanup; then pending
-- restores, then pending backups, oldest first.
create function ops.claim_backup_job(p_worker text, p_stale interval)
returns table (job_kind text, job_id uuid, tenant_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
declare r record;
begin
  select x.id, x.tenant_id into r from ops.restores x
   where x.state in ('safety_backup', 'restoring', 'neutralizing', 'switching')
     and x.heartbeat_at < now() - p_stale
   order by x.queued_at for update skip locked limit 1;
  if found then
    update ops.restores x set state = 'failed', finished_at = now(), worker = p_worker, heartbeat_at = now(),
           error = 'interrupted: the console running it stopped; nothing was switched'
     where x.id = r.id;
    return query select 'cleanup_restore'::text, r.id, r.tenant_id;
    return;
  end if;
  select x.id, x.tenant_id into r from ops.backups x
   where x.state in ('running', 'verifying') and x.heartbeat_at < now() - p_stale
   order by x.queued_at for update skip locked limit 1;
  if found then
    update ops.backups x set state = 'failed', finished_at = now(), worker = p_worker, heartbeat_at = now(),
           error = 'interrupted: the console running it stopped before it was verified'
     where x.id = r.id;
    return query select 'cleanup_backup'::text, r.id, r.tenant_id;
    return;
  end if;
  select x.id, x.tenant_id, x.mode into r from ops.restores x
   where x.state = 'pending' order by x.queued_at for update skip locked limit 1;
  if found then
    update ops.restores x
       set state = case when r.mode = 'production' then 'safety_backup'::ops.restore_state
                        else 'restoring'::ops.restore_state end,
           worker = p_worker, heartbeat_at = now(), started_at = now()
     where x.id = r.id;
    return query select 'restore'::text, r.id, r.tenant_id;
    return;
  end if;
  select x.id, x.tenant_id into r from ops.backups x
   where x.state = 'pending' and x.kind <> 'safety'
   order by x.queued_at for update skip locked limit 1;
  if found then
    update ops.backups x set state = 'running', worker = p_worker, heartbeat_at = now(), started_at = now()
     where x.id = r.id;
    return query select 'backup'::text, r.id, r.tenant_id;
  end if;
end
$$;
comment on function ops.claim_backup_job(text, interval) is
  'Backup workers run without a tenant: takes the next backup or restore to run, or a stale one to clean up (skip locked); the work then runs under that tenant''s claims.';

-- The scheduler's view across tenants: enabled schedules that are due (or new), plus
-- production environments that have no schedule yet (schedule_id null).
create function ops.due_backup_schedules()
returns table (schedule_id uuid, tenant_id uuid, project_id uuid, environment_id uuid, stage ops.stage,
               cron text, time_zone text, next_run_at timestamptz, project_time_zone text)
language sql
stable
security definer
set search_path = ''
as $$
  select s.id, e.tenant_id, e.project_id, e.id, e.stage, s.cron, s.time_zone, s.next_run_at, p.time_zone
    from ops.environments e
    join ops.projects p on p.id = e.project_id
    left join ops.backup_schedules s on s.environment_id = e.id
   where (s.id is null and e.stage = 'production')
      or (s.enabled and (s.next_run_at is null or s.next_run_at <= now()))
$$;

-- Production environments whose last good backup is older than allowed (the watchdog).
create function ops.stale_backup_environments(p_slack interval)
returns table (tenant_id uuid, project_id uuid, environment_id uuid, last_good_backup_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select e.tenant_id, e.project_id, e.id, e.last_good_backup_at
    from ops.environments e
    join ops.backup_schedules s on s.environment_id = e.id and s.enabled
   where e.stage = 'production'
     and s.last_scheduled_at is not null
     and coalesce(e.last_good_backup_at, s.created_at) < now() - p_slack
$$;

create function ops.backup_s3_secret(p_project_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  -- Only the caller's tenant: a project id of another tenant gives null.
  select p.backup_s3_secret from ops.projects p
   where p.id = p_project_id and p.tenant_id = (select ops.current_tenant_id())
$$;

revoke all on function ops.claim_backup_job(text, interval), ops.due_backup_schedules(),
  ops.stale_backup_environments(interval), ops.backup_s3_secret(uuid) from public;
grant execute on function ops.claim_backup_job(text, interval), ops.due_backup_schedules(),
  ops.stale_backup_environments(interval), ops.backup_s3_secret(uuid) to odooops_app;

-- Start-up sweep of the local backup directory: which of these backup ids still exist, and
-- in which state (a directory whose backup is not good and not running is a leftover).
create function ops.backup_states(p_ids uuid[])
returns table (id uuid, state ops.backup_state)
language sql
stable
security definer
set search_path = ''
as $$
  select b.id, b.state from ops.backups b where b.id = any(p_ids)
$$;
revoke all on function ops.backup_states(uuid[]) from public;
grant execute on function ops.backup_states(uuid[]) to odooops_app;
