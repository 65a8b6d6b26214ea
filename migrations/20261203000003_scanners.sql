-- Scanners: what a scan of a database observed (inventory), what it found (the risk
-- register, tracked across scans by each finding's stable key), and fix plans.

create type ops.scan_status as enum ('running', 'succeeded', 'failed');
create type ops.scan_source as enum ('nightly', 'manual', 'cli');
create type ops.finding_status as enum ('open', 'resolved', 'suppressed');
create type ops.plan_status as enum ('draft', 'applied', 'failed');

-- One scan of one target. `target_key` names the target stably across scans
-- (`environment:<id>`, `console`, `supabase:<ref>`) so findings can be followed.
create table ops.inventory_scans (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid,
  environment_id uuid,
  target_key text not null check (length(target_key) between 1 and 200),
  target_name text not null,
  source ops.scan_source not null,
  status ops.scan_status not null default 'running',
  requested_by uuid,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  duration_ms integer check (duration_ms >= 0),
  server_version text not null default '',
  object_count integer not null default 0,
  finding_count integer not null default 0,
  -- {"error": n, "warn": n, "info": n, "new": n, "resolved": n, "not_applicable": n}
  counts jsonb not null default '{}',
  -- Each lint's outcome: [{"id", "name", "status", "reason"?, "findings"?}]
  lints jsonb not null default '[]',
  score integer check (score between 0 and 100),
  error text,
  unique (tenant_id, id),
  check ((status = 'running') = (finished_at is null))
);
create index inventory_scans_target_idx on ops.inventory_scans (tenant_id, target_key, started_at desc);

create table ops.inventory_objects (
  tenant_id uuid not null,
  scan_id uuid not null,
  object_type text not null check (object_type in ('schema', 'table', 'view', 'materialized view',
    'foreign table', 'function', 'trigger', 'policy', 'extension', 'index', 'role', 'sequence')),
  object_key text not null,
  object_json jsonb not null,
  risk_flags text[] not null default '{}',
  primary key (scan_id, object_type, object_key),
  foreign key (tenant_id, scan_id) references ops.inventory_scans (tenant_id, id) on delete cascade
);

-- The risk register: one row per (target, finding key), across scans.
create table ops.risk_findings (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid,
  target_key text not null,
  target_name text not null,
  finding_key text not null,
  lint text not null,
  name text not null,
  level text not null check (level in ('ERROR', 'WARN', 'INFO')),
  category text not null,
  title text not null,
  description text not null,
  detail text not null,
  remediation text not null,
  evidence jsonb not null default '{}',
  fix_sql text,
  status ops.finding_status not null default 'open',
  first_scan_id uuid not null,
  last_scan_id uuid not null,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  suppressed_reason text check (suppressed_reason is null or length(suppressed_reason) between 3 and 500),
  suppressed_until timestamptz,
  suppressed_by uuid,
  suppressed_at timestamptz,
  unique (tenant_id, target_key, finding_key),
  unique (tenant_id, id),
  check (status <> 'suppressed' or (suppressed_reason is not null and suppressed_until is not null)),
  check ((status = 'resolved') = (resolved_at is not null))
);
create index risk_findings_open_idx on ops.risk_findings (tenant_id, status, level);

-- Which findings each scan saw (drift between two scans is the difference).
create table ops.scan_findings (
  tenant_id uuid not null,
  scan_id uuid not null,
  finding_id uuid not null,
  is_new boolean not null default false,
  primary key (scan_id, finding_id),
  foreign key (tenant_id, scan_id) references ops.inventory_scans (tenant_id, id) on delete cascade,
  foreign key (tenant_id, finding_id) references ops.risk_findings (tenant_id, id) on delete cascade
);

-- A fix plan: the patches of a target's open fixable findings, previewed, then applied by a
-- sysadmin in one transaction and followed by a re-scan.
create table ops.remediation_plans (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid,
  target_key text not null,
  target_name text not null,
  scan_id uuid not null,
  status ops.plan_status not null default 'draft',
  -- [{"finding_id", "finding_key", "level", "title", "sql"}], ERROR first
  steps jsonb not null,
  created_by uuid,
  created_at timestamptz not null default now(),
  applied_by uuid,
  applied_at timestamptz,
  rescan_id uuid,
  error text,
  unique (tenant_id, id),
  foreign key (tenant_id, scan_id) references ops.inventory_scans (tenant_id, id) on delete cascade
);

do $$
declare t text;
begin
  foreach t in array array['inventory_scans', 'inventory_objects', 'risk_findings', 'scan_findings', 'remediation_plans']
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
grant select, insert, update on ops.inventory_scans, ops.risk_findings, ops.remediation_plans to odooops_app;
grant select, insert on ops.inventory_objects, ops.scan_findings to odooops_app;
