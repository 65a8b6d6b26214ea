-- Gate results after a build arrive a moment after the build finished (the runner records
-- the outcome, then runs the gates). Open build pages and grids reload on `ops_builds`
-- notifications, so inserting a build's gate results sends one with the build's current
-- state, in the payload shape of `ops.notify_builds()`: {t, p, b, s, c}. The state is a
-- finished one, so build workers (woken by `pending` only) ignore it. Identical payloads in
-- one transaction are delivered once, so the six inserts of a run make one notification.
-- Preflight results of a promotion (promotion_id set) are announced by the promotion's own
-- state change on `ops_promotions`.

create function ops.notify_gate_results() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('ops_builds', json_build_object(
      't', b.tenant_id, 'p', b.project_id, 'b', b.id, 's', b.state, 'c', b.cancel_requested)::text)
     from ops.builds b
    where b.id in (select g.build_id from inserted g where g.promotion_id is null);
  return null;
end
$$;
comment on function ops.notify_gate_results() is
  'Statement trigger on ops.gate_results: tells ops_builds listeners that a build''s gates are in (payload of ops.notify_builds).';

create trigger gate_results_notify after insert on ops.gate_results
  referencing new table as inserted
  for each statement execute function ops.notify_gate_results();
