-- The scanner service: scans and fix-plan applications are jobs any console claims (skip
-- locked), queued by the nightly schedule or by a person ("Scan now", "Apply plan").

create type ops.scan_job_kind as enum ('scan', 'apply_plan');
create type ops.scan_job_state as enum ('queued', 'running', 'done', 'failed');

create table ops.scan_jobs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  kind ops.scan_job_kind not null,
  target_key text not null check (length(target_key) between 1 and 200),
  source ops.scan_source not null,
  plan_id uuid,
  -- The nightly slot this job stands for: one job per target and slot, whichever console
  -- queued it first.
  slot timestamptz,
  requested_by uuid,
  requested_at timestamptz not null default now(),
  state ops.scan_job_state not null default 'queued',
  worker text,
  started_at timestamptz,
  heartbeat_at timestamptz,
  finished_at timestamptz,
  scan_id uuid,
  error text,
  unique (tenant_id, id),
  unique (tenant_id, target_key, slot),
  check ((kind = 'apply_plan') = (plan_id is not null)),
  check ((state in ('done', 'failed')) = (finished_at is not null))
);
-- One open job per target: a second "Scan now" finds the first.
create unique index scan_jobs_one_open_idx on ops.scan_jobs (tenant_id, target_key) where state in ('queued', 'running');
create index scan_jobs_queue_idx on ops.scan_jobs (requested_at) where state = 'queued';

-- Each tenant's scan schedule (no row: nightly at 03:00 UTC).
create table ops.scan_settings (
  tenant_id uuid primary key references ops.tenants (id) on delete cascade,
  cron text not null default '0 3 * * *' check (length(cron) between 9 and 100),
  enabled boolean not null default true,
  updated_by uuid,
  updated_at timestamptz not null default now()
);

do $$
declare t text;
begin
  foreach t in array array['scan_jobs', 'scan_settings']
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
grant select, insert, update on ops.scan_jobs, ops.scan_settings to odooops_app;

-- Workers run without a tenant: fails a job whose console went silent, else takes the
-- oldest queued one; the work then runs under that tenant's claims.
create function ops.claim_scan_job(p_worker text, p_stale interval)
returns table (job_id uuid, tenant_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
declare r record;
begin
  update ops.scan_jobs x set state = 'failed', finished_at = now(),
         error = 'interrupted: the console running it stopped'
   where x.state = 'running' and x.heartbeat_at < now() - p_stale;
  select x.id, x.tenant_id into r from ops.scan_jobs x
   where x.state = 'queued' order by x.requested_at for update skip locked limit 1;
  if found then
    update ops.scan_jobs x set state = 'running', worker = p_worker, started_at = now(), heartbeat_at = now()
     where x.id = r.id;
    return query select r.id, r.tenant_id;
  end if;
end
$$;
revoke all on function ops.claim_scan_job(text, interval) from public;
grant execute on function ops.claim_scan_job(text, interval) to odooops_app;

-- The scheduler's view across tenants: each tenant's schedule (defaults when unset).
create function ops.scan_schedules()
returns table (tenant_id uuid, slug text, created_at timestamptz, cron text, enabled boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select t.id, t.slug, t.created_at, coalesce(s.cron, '0 3 * * *'), coalesce(s.enabled, true)
    from ops.tenants t left join ops.scan_settings s on s.tenant_id = t.id
   order by t.created_at, t.id
$$;
revoke all on function ops.scan_schedules() from public;
grant execute on function ops.scan_schedules() to odooops_app;

-- The console's own database is scanned under the installation's tenant (the first one).
create function ops.is_console_tenant(p_tenant uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(p_tenant = (select t.id from ops.tenants t order by t.created_at, t.id limit 1), false)
$$;
revoke all on function ops.is_console_tenant(uuid) from public;
grant execute on function ops.is_console_tenant(uuid) to odooops_app;
