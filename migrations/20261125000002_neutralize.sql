-- Neutralization of staging data (issue 5, reused by restores in issue 7): the rules that
-- scrub a copy of a production database before anyone uses it, and a record of each run.
--
-- Rules are data. `neutralize_rule_defaults` is the global default set (no tenant); every
-- project gets its own copy in `neutralize_rules` when it is created (trigger below) and
-- may then disable, edit or add rules. The engine (`server/src/neutralize`) runs a
-- project's enabled rules in position order, in one transaction on the target database.
--
-- Kinds:
--   update          update <table_name> set <set_sql> [where <where_sql>]; only rows whose
--                   values actually change are counted (and touched)
--   delete          delete from <table_name> [where <where_sql>]
--   column_pattern  every text/varchar/char/json/jsonb/bytea column (of <table_name>, or of
--                   every non-system table when it is empty) whose name matches the
--                   case-insensitive PostgreSQL regex <column_pattern> is blanked, except the
--                   `table.column` entries of <exclude>
-- `{{mail_host}}`, `{{mail_port}}`, `{{mail_user}}`, `{{mail_password}}` in set_sql are
-- replaced by SQL literals for the environment's mail catcher.

create type ops.neutralize_kind as enum ('update', 'delete', 'column_pattern');

create table ops.neutralize_rule_defaults (
  id uuid primary key default gen_random_uuid(),
  position integer not null,
  name text not null unique check (length(name) between 1 and 100),
  description text not null default '' check (length(description) <= 2000),
  kind ops.neutralize_kind not null,
  table_name text not null default '' check (length(table_name) <= 130),
  set_sql text not null default '' check (length(set_sql) <= 4000),
  where_sql text not null default '' check (length(where_sql) <= 4000),
  column_pattern text not null default '' check (length(column_pattern) <= 500),
  exclude text not null default '' check (length(exclude) <= 2000),
  enabled boolean not null default true
);
comment on table ops.neutralize_rule_defaults is
  'The default neutralization rules every new project starts with (global, read-only for requests).';

create table ops.neutralize_rules (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  -- The default this rule was copied from (builtin rules); null for rules added by people.
  default_id uuid references ops.neutralize_rule_defaults (id) on delete set null,
  builtin boolean not null default false,
  position integer not null check (position between 0 and 1000000),
  name text not null check (length(name) between 1 and 100),
  description text not null default '' check (length(description) <= 2000),
  kind ops.neutralize_kind not null,
  table_name text not null default '' check (length(table_name) <= 130),
  set_sql text not null default '' check (length(set_sql) <= 4000),
  where_sql text not null default '' check (length(where_sql) <= 4000),
  column_pattern text not null default '' check (length(column_pattern) <= 500),
  exclude text not null default '' check (length(exclude) <= 2000),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id),
  unique (project_id, name),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  check (kind <> 'update' or (set_sql <> '' and table_name <> '')),
  check (kind <> 'delete' or table_name <> ''),
  check (kind <> 'column_pattern' or column_pattern <> '')
);
create index neutralize_rules_project_idx on ops.neutralize_rules (tenant_id, project_id, position);

create table ops.neutralize_runs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references ops.tenants (id) on delete cascade,
  project_id uuid not null,
  environment_id uuid,
  -- The promotion or restore that asked for it (no foreign key: those tables come later).
  promotion_id uuid,
  actor_email text not null default '',
  database_name text not null check (length(database_name) between 1 and 63),
  status text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  -- app::models::NeutralizeReport: counts, table and column names, never values.
  report jsonb,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  unique (tenant_id, id),
  foreign key (tenant_id, project_id) references ops.projects (tenant_id, id) on delete cascade,
  foreign key (tenant_id, environment_id) references ops.environments (tenant_id, id)
    on delete set null (environment_id)
);
create index neutralize_runs_project_idx on ops.neutralize_runs (tenant_id, project_id, started_at desc);
create index neutralize_runs_environment_idx on ops.neutralize_runs (tenant_id, environment_id);

create trigger touch_updated_at before update on ops.neutralize_rules
  for each row execute function ops.touch_updated_at();

do $$
declare t text;
begin
  foreach t in array array['neutralize_rules', 'neutralize_runs']
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

grant select on ops.neutralize_rule_defaults to odooops_app;
grant select, insert, update, delete on ops.neutralize_rules to odooops_app;
grant select, insert, update on ops.neutralize_runs to odooops_app;

-- ---------------------------------------------------------------------------------------
-- Every project starts with the default rules.
create function ops.neutralize_seed_rules(p_tenant_id uuid, p_project_id uuid) returns void
language sql security definer
set search_path = ''
as $$
  insert into ops.neutralize_rules (tenant_id, project_id, default_id, builtin, position, name, description,
                                    kind, table_name, set_sql, where_sql, column_pattern, exclude, enabled)
  select p_tenant_id, p_project_id, d.id, true, d.position, d.name, d.description,
         d.kind, d.table_name, d.set_sql, d.where_sql, d.column_pattern, d.exclude, d.enabled
    from ops.neutralize_rule_defaults d
  on conflict (project_id, name) do nothing
$$;
comment on function ops.neutralize_seed_rules(uuid, uuid) is
  'Copies the default neutralization rules to a project. Definer: it runs from the projects trigger, '
  'whoever creates the project, and reads the global defaults table.';
revoke all on function ops.neutralize_seed_rules(uuid, uuid) from public;

create function ops.neutralize_project_created() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform ops.neutralize_seed_rules(new.tenant_id, new.id);
  return null;
end
$$;
comment on function ops.neutralize_project_created() is
  'After insert on ops.projects: seeds the new project''s neutralization rules. Definer so that '
  'the seeding does not depend on the creating role''s grants on the rules tables.';
revoke all on function ops.neutralize_project_created() from public;

create trigger neutralize_seed after insert on ops.projects
  for each row execute function ops.neutralize_project_created();

-- ---------------------------------------------------------------------------------------
-- The defaults. Written for Odoo's tables in the spirit of Odoo's own data/neutralize.sql
-- files (base, mail, payment, iap, google_calendar, microsoft_calendar, website, delivery,
-- account_online_synchronization), but pointing mail at the catcher instead of nowhere.
-- Rules whose table or column does not exist in a given Odoo version are skipped.
insert into ops.neutralize_rule_defaults (position, name, kind, table_name, set_sql, where_sql, column_pattern, exclude, description) values
(10, 'Scheduled jobs off', 'update', 'ir_cron', 'active = false', '', '', '',
 'Every scheduled action (ir.cron) is switched off, so the copy sends no reminders, runs no synchronizations and posts nothing. Odoo''s own neutralization keeps base.autovacuum_job running; add a filter here to do the same, or start jobs by hand in the copy.'),
(20, 'Outgoing mail to the catcher', 'update', 'ir_mail_server',
 'smtp_host = {{mail_host}}, smtp_port = {{mail_port}}, smtp_user = {{mail_user}}, smtp_pass = {{mail_password}}, smtp_encryption = ''none''', '', '', '',
 'Every outgoing mail server is pointed at this environment''s mail catcher (host, port, user and password are filled in when the rule runs), without TLS: mail sent by the copy is captured, never delivered.'),
(30, 'Outgoing mail: password login, any sender', 'update', 'ir_mail_server',
 'smtp_authentication = ''login'', from_filter = null, smtp_ssl_certificate = null, smtp_ssl_private_key = null', '', '', '',
 'Odoo 15 and later: servers that signed in with Gmail or Outlook OAuth or a client certificate use the catcher''s user and password instead, and accept every sender (from_filter cleared), so no mail falls back to another server. Skipped on older versions.'),
(40, 'Incoming mail off', 'update', 'fetchmail_server', 'active = false', '', '', '',
 'Incoming mail servers (IMAP/POP) are switched off: the copy must not fetch, and mark as read, production''s mailboxes. Their passwords are blanked by "Secret columns anywhere".'),
(50, 'Payment providers disabled', 'update', 'payment_provider', 'state = ''disabled''', 'state = ''enabled''', '', '',
 'Live payment providers are disabled; providers already in test mode stay in test. Their credentials are blanked by the next rule: enter sandbox keys to test payments on the copy.'),
(60, 'Payment provider credentials', 'column_pattern', 'payment_provider', '', '',
 '_(key|key_id|secret|token|password|salt|shakey_in|shakey_out|sha_request|sha_response|login|userid|pspid|merchant_id|access_code|email_account|seller_account|account_sid)$', '',
 'Keys, secrets, tokens, passwords, logins and merchant ids of every payment provider (Stripe, Adyen, PayPal, Authorize.net, Mollie, Razorpay, Worldline…) are blanked.'),
(70, 'Payment providers not live (newer Odoo)', 'update', 'payment_provider', 'is_live = false', '', '', '',
 'Newer Odoo versions mark live providers with is_live, which their own neutralization clears. Skipped where the column does not exist.'),
(80, 'Payment acquirers disabled (Odoo 14–15)', 'update', 'payment_acquirer', 'state = ''disabled''', 'state = ''enabled''', '', '',
 'The same as "Payment providers disabled" for versions before 16, where providers were called acquirers.'),
(90, 'Payment acquirer credentials (Odoo 14–15)', 'column_pattern', 'payment_acquirer', '', '',
 '_(key|key_id|secret|token|password|salt|shakey_in|shakey_out|login|userid|pspid|merchant_id|email_account|seller_account)$', '',
 'The same as "Payment provider credentials" for versions before 16.'),
(100, 'IAP account tokens', 'column_pattern', 'iap_account', '', '', '^account_token$', '',
 'In-app purchase accounts (SMS, snail mail, partner autocomplete, lead mining, OCR…) lose their token, so the copy cannot spend production''s credits. Odoo creates a fresh, empty account when a service is used.'),
(110, 'Calendar sync tokens', 'column_pattern', '', '', '', '^((google|microsoft)_)?calendar_(rtoken|token|sync_token)$', '',
 'Google and Microsoft calendar access, refresh and sync tokens (on res_users, res_users_settings or the credentials tables, depending on the version) are removed: the copy cannot read or write anyone''s real calendar.'),
(120, 'Google calendar sync stopped', 'update', 'res_users_settings', 'google_synchronization_stopped = true', '', '', '',
 'Users'' Google calendar synchronization is marked as stopped, as Odoo''s own neutralization does.'),
(130, 'Microsoft calendar sync stopped', 'update', 'res_users_settings', 'microsoft_synchronization_stopped = true', '', '', '',
 'Users'' Outlook calendar synchronization is marked as stopped, as Odoo''s own neutralization does.'),
(140, 'Bank synchronization links', 'update', 'account_online_link', 'client_id = ''duplicate''', '', '', '',
 'Odoo Enterprise online bank synchronization: links are marked as a duplicate (as Odoo does), so the copy never fetches transactions through production''s connection.'),
(150, 'Bank synchronization tokens', 'column_pattern', 'account_online_link', '', '', '^(provider_data|access_token|refresh_token|auth_token)$', '',
 'The tokens and provider data of bank synchronization links are blanked.'),
(160, 'Shipping connectors in test mode', 'update', 'delivery_carrier', 'prod_environment = false', '', '', '',
 'Carriers (FedEx, UPS, DHL, bpost…) switch to their test environment: no real labels, pickups or charges.'),
(170, 'Shipping connector credentials', 'column_pattern', 'delivery_carrier', '', '',
 '(_password|_key|_secret|_token|_siteid|_site_id|_account_number|_meter_number|_access_number|_username|_user_name|_login)$', '',
 'Account numbers, user names, passwords and keys of shipping connectors are blanked.'),
(180, 'Website domains and CDN', 'update', 'website', 'domain = null, cdn_activated = false', '', '', '',
 'Websites forget production''s domain (the copy must not claim it or build links to it) and stop using the CDN.'),
(190, 'Websites not indexed', 'update', 'website', 'robots_txt = ''User-agent: *'' || chr(10) || ''Disallow: /''', '', '', '',
 'Search engines are told not to crawl the copy.'),
(200, 'Neutralized banner', 'update', 'ir_ui_view', 'active = true', 'key in (''web.neutralize_banner'', ''website.neutralize_ribbon'')', '', '',
 'Turns on Odoo''s own "neutralized database" banner and website ribbon, so nobody mistakes the copy for production.'),
(210, 'Server action webhooks', 'update', 'ir_act_server', 'webhook_url = ''neutralization - disable webhook''', 'state = ''webhook''', '', '',
 'Server actions that call a webhook (Odoo 17+) get a dummy URL: the copy calls no external system, and URLs with embedded tokens are gone.'),
(220, 'Web push devices', 'delete', 'mail_push_device', '', '', '', '',
 'Browser push subscriptions are removed: the copy must not send notifications to real people''s devices.'),
(230, 'Secrets in system parameters', 'delete', 'ir_config_parameter', '',
 'key ~* ''(api_?key|client_secret|_secret$|secret_key|access_key|private_key|_token$|account_sid|vapid|^microsoft_|^google_[a-z_]*client_id$|^(ocn\.uuid|odoo_ocn\.project_id|mail\.sfu_server_url|mail\.use_sfu_server|mail\.use_twilio_rtc_servers|web\.base\.url\.freeze)$)'' and key not in (''database.secret'', ''database.uuid'', ''database.enterprise_code'')',
 '', '',
 'System parameters holding API keys, OAuth client ids and secrets, tokens and private keys (Google, Microsoft, Twilio, Unsplash, maps, reCAPTCHA, web push…) are deleted, and so is the mobile push registration (ocn.uuid). web.base.url.freeze goes too, so the first admin login sets the copy''s own URL. Kept: database.enterprise_code (Odoo Enterprise needs it; the subscription covers test copies).'),
(240, 'New database identity', 'update', 'ir_config_parameter', 'value = gen_random_uuid()::text',
 'key in (''database.uuid'', ''database.secret'') and not exists (select 1 from ir_config_parameter m where m.key = ''database.is_neutralized'' and m.value = ''true'')', '', '',
 'As Odoo''s "duplicate database" does: a new database.uuid (to IAP and the publisher warranty the copy is not production) and a new database.secret (links and tokens signed by production stop working on the copy). Only on a copy''s first neutralization.'),
(250, 'Secret columns anywhere', 'column_pattern', '', '', '',
 '(^|_)(api_?key|secret|secret_key|access_key|private_key|password|passwd|pwd|pass|refresh_token|rtoken|auth_token)$|._access_token$',
 'res_users.password, ir_mail_server.smtp_pass',
 'Every text, JSON or binary column, in any schema, whose name looks like a credential (…api_key, …secret, …password, …refresh_token, …private_key, oauth_access_token…) is blanked: null where allowed, else empty. Kept: res_users.password (people still sign in to the copy with their own password) and ir_mail_server.smtp_pass (the catcher''s, set above). Plain access_token columns are portal share links, not credentials, and stay. Two-factor secrets (totp_secret) go too: the copy asks for passwords only.');

-- Existing projects get the defaults now.
select ops.neutralize_seed_rules(p.tenant_id, p.id) from ops.projects p;
