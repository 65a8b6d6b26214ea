-- The audit chain's key as a stored column (issue 5, after 20261125000001_audit_chain.sql).
--
-- Under RLS PostgreSQL only uses an index for a request-role query when the condition is
-- leakproof; `coalesce(tenant_id, …) = $1` is not, so walking a tenant's chain as
-- `odooops_app` read and sorted the whole table for every page. `chain_key = $1` on a plain
-- column is, and the index below serves the owner, the request role and the triggers alike.

alter table ops.audit_log
  add column chain_key uuid not null
    generated always as (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)) stored;
create unique index audit_log_chain_key_seq_idx on ops.audit_log (chain_key, seq);
drop index ops.audit_log_chain_seq_idx;

-- As in 20261125000001, with the newest row of the chain found through chain_key. A generated
-- column is filled after BEFORE triggers, so the key of the new row is computed here.
create or replace function ops.audit_log_chain() returns trigger
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
   where a.chain_key = k order by a.seq desc limit 1;
  if own.seq > h.seq then
    h := own;
  end if;
  new.seq := h.seq + 1;
  new.prev_hash := h.hash;
  new.hash := sha256(h.hash || convert_to(ops.audit_canonical(new), 'UTF8'));
  return new;
end
$$;

create or replace function ops.audit_log_chain_head() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  newest bigint;
begin
  select a.seq into newest from ops.audit_log a
   where a.chain_key = new.chain_key order by a.seq desc limit 1;
  if newest = new.seq then
    update ops.audit_chain_heads set seq = new.seq, hash = new.hash, updated_at = now()
     where chain_key = new.chain_key;
  end if;
  return null;
end
$$;
