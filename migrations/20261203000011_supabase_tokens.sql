-- Each tenant's own Supabase management token (a personal access token, `sbp_...`),
-- encrypted by the server like the connection strings. With one server-wide token every
-- tenant could reach every Supabase project that token can (a ref is not a secret), so the
-- server's ODOOOPS_SUPABASE_TOKEN serves only the installation's first tenant; other tenants
-- set their own here.
create table ops.supabase_tokens (
  tenant_id uuid primary key references ops.tenants (id) on delete cascade,
  token_enc text not null check (length(token_enc) <= 4000),
  -- The last four characters, to tell tokens apart in the UI.
  hint text not null check (length(hint) <= 8),
  updated_by uuid,
  updated_by_email text not null default '',
  updated_at timestamptz not null default now()
);
alter table ops.supabase_tokens enable row level security;
alter table ops.supabase_tokens force row level security;
do $$ begin
  execute format('create policy owner_all on ops.supabase_tokens for all to %I using (true) with check (true)', current_user);
end $$;
create policy tenant_isolation on ops.supabase_tokens for all to odooops_app
  using (tenant_id = (select ops.current_tenant_id()))
  with check (tenant_id = (select ops.current_tenant_id()));
-- Write-only for the app role: it sees whether there is a token, never the ciphertext.
grant select (tenant_id, hint, updated_by, updated_by_email, updated_at) on ops.supabase_tokens to odooops_app;
grant insert, delete on ops.supabase_tokens to odooops_app;
grant update (token_enc, hint, updated_by, updated_by_email, updated_at) on ops.supabase_tokens to odooops_app;

-- What the proxy needs for a ref, in one call under the caller's claims: the link's upstream
-- (null: the Management API, 'local': the console's own), the tenant's token (ciphertext)
-- and whether the server's token may stand in (the first tenant only). No row: not linked.
create function ops.supabase_route(p_ref text)
returns table (upstream text, token_enc text, server_token boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select s.upstream,
         (select t.token_enc from ops.supabase_tokens t where t.tenant_id = s.tenant_id),
         ops.is_console_tenant(s.tenant_id)
    from ops.supabase_projects s
   where s.project_ref = p_ref and s.tenant_id = (select ops.current_tenant_id())
$$;
revoke all on function ops.supabase_route(text) from public;
grant execute on function ops.supabase_route(text) to odooops_app;
