-- Mail catcher: one mailbox (SMTP credentials + retention) per environment, and the
-- messages captured for it.
--
-- Same tenancy rules as before: tenant_id on every row, composite foreign keys, RLS
-- enabled and forced. The SMTP server learns the tenant from the credentials a client
-- authenticates with, through one definer function (ops.mail_login).

create table ops.mailboxes (
  environment_id uuid primary key,
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  -- What the environment's app puts in its outgoing mail server settings.
  smtp_username text not null unique check (smtp_username ~ '^[a-z0-9][a-z0-9.-]{2,120}$'),
  smtp_password text not null check (length(smtp_password) between 16 and 200),
  max_messages integer not null default 1000 check (max_messages between 1 and 100000),
  max_age_days integer not null default 14 check (max_age_days between 1 and 365),
  rotated_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, environment_id),
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id) on delete cascade
);

create table ops.mailbox_messages (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  environment_id uuid not null,
  received_at timestamptz not null default now(),
  envelope_from text not null check (length(envelope_from) <= 1000),
  envelope_to text[] not null check (cardinality(envelope_to) between 1 and 100),
  header_from text not null default '' check (length(header_from) <= 4000),
  header_to text not null default '' check (length(header_to) <= 20000),
  header_cc text not null default '' check (length(header_cc) <= 20000),
  subject text not null default '' check (length(subject) <= 4000),
  -- The Date: header, when it parses.
  sent_at timestamptz,
  message_id text not null default '' check (length(message_id) <= 1000),
  size integer not null check (size >= 0),
  -- Exactly the bytes the client sent after DATA (dot-unstuffed, without the final dot).
  raw bytea not null,
  text_body text not null default '',
  html_body text not null default '',
  -- [{ "index", "filename", "content_type", "size", "content_id", "inline" }]
  attachments jsonb not null default '[]',
  -- Set when the MIME structure could not be parsed: the raw bytes are kept anyway.
  parse_error text,
  client_addr text not null default '',
  helo text not null default '' check (length(helo) <= 1000),
  tls boolean not null default false,
  unique (tenant_id, id),
  foreign key (tenant_id, environment_id) references ops.mailboxes (tenant_id, environment_id) on delete cascade
);
-- lz4 compresses the big columns at half pglz's cost (measured by bench_smtp); servers built
-- without lz4 keep the default.
do $$
begin
  alter table ops.mailbox_messages alter column raw set compression lz4,
    alter column text_body set compression lz4, alter column html_body set compression lz4;
exception when others then
  raise notice 'lz4 not available (%), keeping the default compression', sqlerrm;
end
$$;

-- The inbox: newest first within one environment.
create index mailbox_messages_inbox_idx on ops.mailbox_messages (tenant_id, environment_id, received_at desc, id);
-- Retention by age across all mailboxes.
create index mailbox_messages_received_idx on ops.mailbox_messages (received_at);

create trigger touch_updated_at before update on ops.mailboxes
  for each row execute function ops.touch_updated_at();

do $$
declare t text;
begin
  foreach t in array array['mailboxes', 'mailbox_messages']
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

grant select, insert, update, delete on ops.mailboxes to odooops_app;
grant select, insert, delete on ops.mailbox_messages to odooops_app;

-- One notification per insert statement and mailbox (a batch of 50 mails costs a few NOTIFYs).
create function ops.notify_mail() returns trigger
language plpgsql
set search_path = ''
as $$
declare r record;
begin
  for r in select n.tenant_id, n.environment_id, count(*) as n
             from new_rows n group by n.tenant_id, n.environment_id
  loop
    perform pg_notify('ops_mail', json_build_object(
      't', r.tenant_id, 'e', r.environment_id, 'n', r.n)::text);
  end loop;
  return null;
end
$$;
create trigger mailbox_messages_notify after insert on ops.mailbox_messages
  referencing new table as new_rows
  for each statement execute function ops.notify_mail();

-- The mailbox an SMTP login names (no tenant is claimed yet). The caller compares the
-- password in constant time; the stage decides between capture, relay and refusal.
create function ops.mail_login(p_username text)
returns table (tenant_id uuid, environment_id uuid, stage ops.stage, smtp_password text,
               environment_name text, project_slug text)
language sql stable security definer
set search_path = ''
as $$
  select m.tenant_id, m.environment_id, e.stage, m.smtp_password, e.name, p.slug
    from ops.mailboxes m
    join ops.environments e on e.id = m.environment_id and e.tenant_id = m.tenant_id
    join ops.projects p on p.id = e.project_id and p.tenant_id = e.tenant_id
   where m.smtp_username = lower(p_username)
$$;

-- Retention for every mailbox: older than max_age_days, or beyond the newest max_messages.
-- Returns how many messages were removed.
create function ops.mail_prune() returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
  v_aged bigint;
  v_over bigint;
begin
  delete from ops.mailbox_messages mm
   using ops.mailboxes m
   where m.environment_id = mm.environment_id and m.tenant_id = mm.tenant_id
     and mm.received_at < now() - make_interval(days => m.max_age_days);
  get diagnostics v_aged = row_count;
  delete from ops.mailbox_messages mm
   where mm.id in (
     select r.id from (
       select x.id, row_number() over (partition by x.environment_id order by x.received_at desc, x.id desc) as rn,
              m.max_messages
         from ops.mailbox_messages x
         join ops.mailboxes m on m.environment_id = x.environment_id and m.tenant_id = x.tenant_id) r
      where r.rn > r.max_messages);
  get diagnostics v_over = row_count;
  return v_aged + v_over;
end
$$;

revoke all on function ops.mail_login(text), ops.mail_prune() from public;
grant execute on function ops.mail_login(text), ops.mail_prune() to odooops_app;
