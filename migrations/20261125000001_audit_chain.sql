-- Tamper evidence for ops.audit_log (issue 5): every row carries a hash chained to the
-- previous row of its tenant.
--
--   hash = sha256(prev_hash || convert_to(ops.audit_canonical(row), 'UTF8'))
--
-- `seq` numbers the rows of one chain 1, 2, 3…; the first row's prev_hash is 32 zero bytes.
-- A chain is one tenant's rows, or the rows without a tenant (chain key: the nil uuid).
-- `ops.audit_chain_heads` holds each chain's newest committed seq and hash. A BEFORE INSERT
-- trigger locks the chain's head row, so writers of one tenant queue behind each other, and
-- fills seq, prev_hash and hash itself: values a caller supplies are overwritten. A deferred
-- trigger moves the head on when the transaction commits (once per transaction and chain, so a
-- transaction writing thousands of rows does not pile up versions of the head row).
--
-- Editing a row changes its content hash; deleting or inserting one breaks the next row's
-- prev_hash link and seq; deleting the newest rows leaves the head ahead of the log. Someone
-- with database-owner rights can still rebuild the whole chain, heads included: a head hash
-- noted somewhere else is what proves they did not.
--
-- Lock order: the head row stays locked until the inserting transaction ends, so a
-- transaction should write its audit rows last, after its other writes. A transaction that
-- wrote audit rows cannot `alter table ops.audit_log` before it commits (pending trigger events).

alter table ops.audit_log
  add column seq bigint,
  add column prev_hash bytea,
  add column hash bytea;

create table ops.audit_chain_heads (
  chain_key uuid primary key,   -- tenant_id, or '00000000-0000-0000-0000-000000000000'
  seq bigint not null check (seq >= 0),
  hash bytea not null check (length(hash) = 32),
  updated_at timestamptz not null default now()
);
-- Only the owner (and so the definer functions below) reads or writes the heads; the request
-- role has no grant at all and reads its own tenant's head through ops.audit_chain_head().
alter table ops.audit_chain_heads enable row level security;
alter table ops.audit_chain_heads force row level security;
create policy owner_all on ops.audit_chain_heads for all to current_user using (true) with check (true);

-- The bytes a row's hash covers, as text. A JSON array (jsonb output escapes every string, so
-- no value can fake a separator) of: a format tag, id, tenant_id, actor_id, actor_email,
-- action, target, details (jsonb's normalized text), request_id, ip, created_at in UTC with
-- microseconds (formatted here because jsonb would render a timestamptz in the session's time
-- zone) and seq. prev_hash and hash are not part of it.
-- Deterministic: nothing in it depends on a setting (to_char gets a plain timestamp and a
-- pattern without locale fields). Declared stable rather than immutable only because
-- jsonb_build_array and to_char are; that, and having no `set search_path` (every name is
-- qualified instead), lets PostgreSQL inline it into the trigger and the verify query.
create function ops.audit_canonical(r ops.audit_log) returns text
language sql stable parallel safe
as $$
  select pg_catalog.jsonb_build_array(
    'audit.v1', r.id, r.tenant_id, r.actor_id, r.actor_email, r.action, r.target, r.details,
    r.request_id, r.ip,
    pg_catalog.to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.seq)::pg_catalog.text
$$;

-- Backfill: number and hash the existing rows per chain in (created_at, id) order. The
-- append-only trigger refuses updates, so it is off for exactly this block (the whole
-- migration is one transaction, and `alter table` keeps the log locked until it commits).
alter table ops.audit_log disable trigger audit_log_append_only;
do $$
declare
  r ops.audit_log;
  k uuid;
  prev_key uuid;
  n bigint := 0;
  prev bytea;
  zero constant bytea := decode(repeat('00', 32), 'hex');
begin
  for r in select * from ops.audit_log a
            order by coalesce(a.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid),
                     a.created_at, a.id
  loop
    k := coalesce(r.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid);
    if prev_key is distinct from k then
      if prev_key is not null then
        insert into ops.audit_chain_heads (chain_key, seq, hash) values (prev_key, n, prev);
      end if;
      prev_key := k;
      n := 0;
      prev := zero;
    end if;
    n := n + 1;
    r.seq := n;
    r.prev_hash := prev;
    r.hash := sha256(prev || convert_to(ops.audit_canonical(r), 'UTF8'));
    update ops.audit_log set seq = r.seq, prev_hash = r.prev_hash, hash = r.hash where id = r.id;
    prev := r.hash;
  end loop;
  if prev_key is not null then
    insert into ops.audit_chain_heads (chain_key, seq, hash) values (prev_key, n, prev);
  end if;
end
$$;
alter table ops.audit_log enable trigger audit_log_append_only;

alter table ops.audit_log
  alter column seq set not null,
  alter column prev_hash set not null,
  alter column hash set not null,
  add constraint audit_log_hash_length check (length(hash) = 32 and length(prev_hash) = 32);
create unique index audit_log_chain_seq_idx
  on ops.audit_log ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), seq);

-- Fills seq, prev_hash and hash of a new row. The head row's lock serializes the writers of
-- one chain; under READ COMMITTED each statement here sees the latest committed head. A
-- missing head is created race-free (the unique key makes a concurrent creator wait, then
-- `do nothing`). Rows this transaction already wrote are newer than the committed head: the
-- newest row of the chain (an index probe) is then the link.
create function ops.audit_log_chain() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  k constant uuid := coalesce(new.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid);
  h record;
  own record;
begin
  select c.seq, c.hash into h from ops.audit_chain_heads c where c.chain_key = k for update;
  if not found then
    insert into ops.audit_chain_heads (chain_key, seq, hash)
    values (k, 0, decode(repeat('00', 32), 'hex'))
    on conflict (chain_key) do nothing;
    select c.seq, c.hash into h from ops.audit_chain_heads c where c.chain_key = k for update;
  end if;
  select a.seq, a.hash into own from ops.audit_log a
   where coalesce(a.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid) = k
   order by a.seq desc limit 1;
  if own.seq > h.seq then
    h := own;
  end if;
  new.seq := h.seq + 1;
  new.prev_hash := h.hash;
  new.hash := sha256(h.hash || convert_to(ops.audit_canonical(new), 'UTF8'));
  return new;
end
$$;
-- The only BEFORE INSERT trigger on the table: one firing after it could change the row
-- after it was hashed.
create trigger audit_log_chain before insert on ops.audit_log
  for each row execute function ops.audit_log_chain();

-- At commit: the chain's newest row becomes its head (the other rows of the transaction find
-- a newer one and do nothing). The head row is still locked by this transaction.
create function ops.audit_log_chain_head() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  k constant uuid := coalesce(new.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid);
  newest bigint;
begin
  select a.seq into newest from ops.audit_log a
   where coalesce(a.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid) = k
   order by a.seq desc limit 1;
  if newest = new.seq then
    update ops.audit_chain_heads set seq = new.seq, hash = new.hash, updated_at = now()
     where chain_key = k;
  end if;
  return null;
end
$$;
create constraint trigger audit_log_chain_head after insert on ops.audit_log
  deferrable initially deferred
  for each row execute function ops.audit_log_chain_head();

-- The head of the caller's tenant chain (no row before its first audit record).
create function ops.audit_chain_head() returns table (seq bigint, hash bytea)
language sql stable security definer
set search_path = ''
as $$
  select h.seq, h.hash from ops.audit_chain_heads h where h.chain_key = ops.current_tenant_id()
$$;

revoke all on function ops.audit_canonical(ops.audit_log), ops.audit_log_chain(),
  ops.audit_log_chain_head(), ops.audit_chain_head() from public;
grant execute on function ops.audit_canonical(ops.audit_log), ops.audit_chain_head()
  to odooops_app;

comment on function ops.audit_canonical(ops.audit_log) is
  'The text an audit row''s hash covers (format audit.v1); see migration 20261125000001.';
comment on function ops.audit_log_chain() is
  'SECURITY DEFINER: chains each new audit row to its tenant''s head in ops.audit_chain_heads, which the request role cannot touch.';
comment on function ops.audit_log_chain_head() is
  'SECURITY DEFINER: moves the chain head in ops.audit_chain_heads on at commit.';
comment on function ops.audit_chain_head() is
  'SECURITY DEFINER: lets a request verify its own tenant''s chain against the head it cannot read directly.';
comment on table ops.audit_chain_heads is
  'Newest seq and hash of each audit chain (tenant id, or the nil uuid for rows without a tenant).';
