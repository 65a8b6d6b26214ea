-- The Supabase proxy keeps what it checked per login and ref (live role, link, token) in
-- memory for a few seconds. Any change to what those checks read is announced on the
-- `ops_authz` channel, and every console process drops all it kept when it hears it.
-- Statement-level triggers: one notification per statement, and PostgreSQL folds identical
-- notifications of one transaction into one, delivered at commit.
create function ops.notify_authz()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify('ops_authz', tg_table_name);
  return null;
end
$$;
revoke all on function ops.notify_authz() from public;

create trigger memberships_authz after insert or update or delete or truncate on ops.memberships
  for each statement execute function ops.notify_authz();
create trigger users_authz after update or delete or truncate on ops.users
  for each statement execute function ops.notify_authz();
create trigger tenants_authz after delete or truncate on ops.tenants
  for each statement execute function ops.notify_authz();
create trigger supabase_projects_authz after insert or update or delete or truncate on ops.supabase_projects
  for each statement execute function ops.notify_authz();
create trigger supabase_tokens_authz after insert or update or delete or truncate on ops.supabase_tokens
  for each statement execute function ops.notify_authz();
