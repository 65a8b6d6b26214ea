-- Web shell and SSH keys (issue 8): each user's public keys, audited terminal sessions with a
-- TTL, and their full transcripts (every input and output chunk, in order, with its offset).

-- ---------------------------------------------------------------------------------------
-- SSH public keys: a user's own, within a tenant. One key (fingerprint) belongs to one member
-- of a tenant, so a key identifies who is behind it.
create table ops.ssh_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  user_id uuid not null references ops.users (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  algorithm text not null check (algorithm in (
    'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa')),
  bits integer not null check (bits between 256 and 16384),
  fingerprint text not null check (fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
  -- The key as OpenSSH prints it, without its comment (the name is kept apart).
  public_key text not null check (length(public_key) between 40 and 4000),
  created_at timestamptz not null default now(),
  unique (tenant_id, fingerprint)
);
create index ssh_keys_user_idx on ops.ssh_keys (tenant_id, user_id, created_at desc);

-- ---------------------------------------------------------------------------------------
-- Shell settings per tenant (admins): the TTL offered by default, the most a user may ask
-- for (never above 30 minutes), and the idle timeout.
create table ops.shell_settings (
  tenant_id uuid primary key references ops.tenants (id) on delete cascade,
  default_ttl_minutes integer not null default 15 check (default_ttl_minutes between 1 and 30),
  max_ttl_minutes integer not null default 30 check (max_ttl_minutes between 1 and 30),
  idle_minutes integer not null default 10 check (idle_minutes between 1 and 30),
  updated_at timestamptz not null default now(),
  check (default_ttl_minutes <= max_ttl_minutes)
);

create type ops.exec_state as enum ('open', 'closed');
create type ops.exec_end_reason as enum (
  -- the TTL ran out; nothing came from the user for the idle timeout; the shell exited;
  -- the user closed it; the console stopped; the console that ran it went away;
  -- nobody ever attached to it before it expired
  'ttl', 'idle', 'exited', 'closed_by_user', 'server_shutdown', 'lost', 'never_attached');
create type ops.exec_direction as enum ('input', 'output', 'resize');

create table ops.exec_sessions (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  environment_id uuid not null,
  user_id uuid not null references ops.users (id),
  user_email text not null,
  stage ops.stage not null,
  environment_name text not null,
  state ops.exec_state not null default 'open',
  -- The server functions give whole minutes (at most 30); the column allows seconds so tests
  -- can shorten a session.
  ttl_seconds integer not null check (ttl_seconds between 1 and 1800),
  idle_seconds integer not null check (idle_seconds between 1 and 1800),
  cols integer not null default 80 check (cols between 2 and 1000),
  rows integer not null default 24 check (rows between 2 and 500),
  -- Where and as whom the shell ran (set when the PTY starts).
  os_user text not null default '',
  workdir text not null default '',
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  started_at timestamptz,
  ended_at timestamptz,
  end_reason ops.exec_end_reason,
  exit_code integer,
  bytes_in bigint not null default 0,
  bytes_out bigint not null default 0,
  events bigint not null default 0,
  check ((state = 'closed') = (ended_at is not null)),
  check (expires_at > created_at),
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id) on delete cascade
);
create index exec_sessions_list_idx on ops.exec_sessions (tenant_id, created_at desc);
create index exec_sessions_open_idx on ops.exec_sessions (expires_at) where state = 'open';

-- The transcript. `seq` orders the chunks of one session; `offset_us` is the time since the
-- session started. Resize events carry "COLSxROWS".
create table ops.exec_events (
  tenant_id uuid not null,
  session_id uuid not null,
  seq bigint not null check (seq >= 0),
  direction ops.exec_direction not null,
  offset_us bigint not null check (offset_us >= 0),
  data bytea not null check (length(data) <= 65536),
  primary key (session_id, seq),
  foreign key (tenant_id, session_id) references ops.exec_sessions (tenant_id, id) on delete cascade
);

-- ---------------------------------------------------------------------------------------
-- Row-level security. Keys: a user sees and changes only their own. Sessions and their
-- transcripts: admins and sysadmins see the tenant's, everyone else only their own.
create function ops.sees_all_shell_sessions() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(ops.claims() ->> 'role', '') in ('admin', 'sysadmin')
$$;
grant execute on function ops.sees_all_shell_sessions() to odooops_app;

do $$
declare t text;
begin
  foreach t in array array['ssh_keys', 'shell_settings', 'exec_sessions', 'exec_events']
  loop
    execute format('alter table ops.%I enable row level security', t);
    execute format('alter table ops.%I force row level security', t);
    execute format('create policy owner_all on ops.%I for all to %I using (true) with check (true)',
                   t, current_user);
  end loop;
end
$$;

create policy own_keys on ops.ssh_keys for all to odooops_app
  using (tenant_id = (select ops.current_tenant_id()) and user_id = (select ops.current_user_id()))
  with check (tenant_id = (select ops.current_tenant_id()) and user_id = (select ops.current_user_id()));

create policy tenant_isolation on ops.shell_settings for all to odooops_app
  using (tenant_id = (select ops.current_tenant_id()))
  with check (tenant_id = (select ops.current_tenant_id()));

create policy read_sessions on ops.exec_sessions for select to odooops_app
  using (tenant_id = (select ops.current_tenant_id())
         and (user_id = (select ops.current_user_id()) or (select ops.sees_all_shell_sessions())));
create policy open_own_session on ops.exec_sessions for insert to odooops_app
  with check (tenant_id = (select ops.current_tenant_id()) and user_id = (select ops.current_user_id()));
-- The console updates a session (start, counters, close) under the opener's claims.
create policy update_own_session on ops.exec_sessions for update to odooops_app
  using (tenant_id = (select ops.current_tenant_id())
         and (user_id = (select ops.current_user_id()) or (select ops.sees_all_shell_sessions())))
  with check (tenant_id = (select ops.current_tenant_id()));

create policy read_events on ops.exec_events for select to odooops_app
  using (tenant_id = (select ops.current_tenant_id())
         and exists (select 1 from ops.exec_sessions s where s.id = session_id));
-- Transcripts are append-only for the app: insert, never update or delete.
create policy write_events on ops.exec_events for insert to odooops_app
  with check (tenant_id = (select ops.current_tenant_id())
              and exists (select 1 from ops.exec_sessions s where s.id = session_id and s.user_id = (select ops.current_user_id())));

grant select, insert, delete on ops.ssh_keys to odooops_app;
grant select, insert, update on ops.shell_settings to odooops_app;
grant select, insert on ops.exec_sessions to odooops_app;
grant update (state, cols, rows, os_user, workdir, started_at, ended_at, end_reason, exit_code,
              bytes_in, bytes_out, events) on ops.exec_sessions to odooops_app;
grant select, insert on ops.exec_events to odooops_app;

-- Sessions whose TTL has passed but that no console closed (it crashed, or nobody attached):
-- closed by any console's sweeper, across tenants, through this definer function. Returns
-- what it closed so the caller can audit it.
create function ops.close_expired_exec_sessions(grace interval)
returns table (id uuid, tenant_id uuid, user_email text, environment_name text, end_reason ops.exec_end_reason)
language sql volatile security definer
set search_path = ''
as $$
  update ops.exec_sessions s
     set state = 'closed', ended_at = now(),
         end_reason = case when s.started_at is null then 'never_attached'::ops.exec_end_reason
                           else 'lost'::ops.exec_end_reason end
   where s.state = 'open' and s.expires_at + grace < now()
  returning s.id, s.tenant_id, s.user_email, s.environment_name, s.end_reason
$$;
revoke all on function ops.close_expired_exec_sessions(interval) from public;
grant execute on function ops.close_expired_exec_sessions(interval) to odooops_app;
