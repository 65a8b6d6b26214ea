-- An Odoo-like database holding production secrets, to show and test neutralization.
-- Idempotent: tables are created if missing and rows inserted only once. Every credential
-- below is made up, but shaped like the real thing (Stripe, SendGrid, Google, AWS…); the
-- list of them is `server::neutralize::sample::SAMPLE_SECRETS`.

create table if not exists ir_config_parameter (
  id serial primary key,
  key varchar not null unique,
  value text not null,
  create_date timestamp default now(),
  write_date timestamp default now()
);
insert into ir_config_parameter (id, key, value) values
  (1, 'database.uuid', 'c2f7d0a6-5b1e-11ee-9b6f-0242ac120002'),
  (2, 'database.secret', '7f1d9c4e-3a2b-4c5d-8e9f-a1b2c3d4e5f6'),
  (3, 'database.enterprise_code', 'M23112912345678'),
  (4, 'web.base.url', 'https://erp.acme-industries.com'),
  (5, 'web.base.url.freeze', 'True'),
  (6, 'google_gmail_client_id', '482736195043-k3j9f8d7s6a5l4q2w1e0r9t8y7u6i5o4.apps.googleusercontent.com'),
  (7, 'google_gmail_client_secret', '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'),
  (8, 'google_calendar_client_secret', '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'),
  (9, 'microsoft_outlook_client_identifier', '6b1f0c1e-8d4a-4e2b-9f3c-7a5d2e1b0c9f'),
  (10, 'microsoft_outlook_client_secret', 'Qx98Q~Vd3kLp7Rt2Wm9Zc4Nb6Hf1Js8Ga5Ye0Ux'),
  (11, 'base_geolocalize.google_map_api_key', 'AIzaSyD7kq2Lm9Xp4Tn8Rw3Vb6Hc1Js5Gf0EaZu'),
  (12, 'mail.twilio_account_sid', 'AC2b5f8e1d4c7a0f3e6b9d2c5a8f1e4b7d'),
  (13, 'mail.twilio_account_token', '9f3c6e1a4d7b0c2e5f8a1d4b7e0c3f6a'),
  (14, 'ocn.uuid', '8f4e2a1c-6d3b-4f5e-9a7c-1b2d3e4f5a6b'),
  (15, 'web_unsplash.access_key', 'kT3vQ9mX2pL7wR4nB8cY1zF6hJ0sD5gA3eU8iO2tK7'),
  (16, 'acme_s3.access_key_id', 'AKIA4QJX7N2BZ5LKT3UP'),
  (17, 'acme_s3.secret_access_key', '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'),
  (18, 'recaptcha_private_key', '6Lc8Xk4pAAAAAJq3Vn7Rt2Wm9Zc4Nb6Hf1Js8Ga5'),
  (19, 'mail.catchall.domain', 'acme-industries.com'),
  (20, 'auth_signup.invitation_scope', 'b2b')
on conflict do nothing;

create table if not exists ir_mail_server (
  id serial primary key,
  name varchar not null,
  from_filter varchar,
  smtp_host varchar,
  smtp_port integer default 25,
  smtp_authentication varchar default 'login',
  smtp_user varchar,
  smtp_pass varchar,
  smtp_encryption varchar not null default 'none',
  smtp_ssl_certificate bytea,
  smtp_ssl_private_key bytea,
  google_gmail_authorization_code varchar,
  google_gmail_refresh_token varchar,
  google_gmail_access_token varchar,
  google_gmail_access_token_expiration integer,
  microsoft_outlook_refresh_token varchar,
  microsoft_outlook_access_token varchar,
  sequence integer default 10,
  active boolean default true
);
insert into ir_mail_server (id, name, from_filter, smtp_host, smtp_port, smtp_authentication, smtp_user, smtp_pass, smtp_encryption,
                            smtp_ssl_certificate, smtp_ssl_private_key, google_gmail_refresh_token, google_gmail_access_token,
                            microsoft_outlook_refresh_token, microsoft_outlook_access_token, sequence) values
  (1, 'SendGrid', 'acme-industries.com', 'smtp.sendgrid.net', 587, 'login', 'apikey',
   'SG.ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc1s5cr', 'starttls', null, null, null, null, null, null, 10),
  (2, 'Billing (Gmail)', 'billing@acme-industries.com', 'smtp.gmail.com', 465, 'gmail', 'billing@acme-industries.com', null, 'ssl',
   null, null, '1//0gLq8m3Zp9XyCgYIARAAGBASNwF-L9IrKx2b7Vd4Qe1Nt8Ws5Pj3Hm6Rf0Uc',
   'ya29.a0AfB_byC3kD9eF2gH1iJ4kL7mN0oP3qR6sT9uV2wX5yZ8aB1cD4eF7gH0iJ3kL6', null, null, 20),
  (3, 'Sales (Outlook)', 'sales@acme-industries.com', 'smtp.office365.com', 587, 'outlook', 'sales@acme-industries.com', null, 'starttls',
   null, null, null, null, 'M.R3_BAY.-CRm7Jq2Xv9Lp4Tn8Rw3Vb6Hc1Js5Gf0EaZu2Kd7Ye4Wm9!Qx3Nf8*Bt6Lh1',
   'EwBwA8l6BAAUkj1oR9nT2xZ7aQ4vL8mP3sK6wY1cF5hJ0gD9eU2iO7tB4nM8', 30),
  (4, 'Relay (client certificate)', null, 'mail.acme-industries.com', 465, 'certificate', null, null, 'ssl',
   convert_to(E'-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEbF3kTzANBgkqhkiG9w0BAQsFADBs\n-----END CERTIFICATE-----\n', 'UTF8'),
   convert_to(E'-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vq3Xk9Lp2Tn8Rw4Zb6Hc1Js5Gf0EaYu\n-----END PRIVATE KEY-----\n', 'UTF8'),
   null, null, null, null, 40)
on conflict do nothing;

create table if not exists ir_cron (
  id serial primary key,
  cron_name varchar not null,
  active boolean default true,
  interval_number integer default 1,
  interval_type varchar default 'days',
  nextcall timestamp not null default now()
);
insert into ir_cron (id, cron_name, active, interval_number, interval_type) values
  (1, 'Mail: Email Queue Manager', true, 1, 'minutes'),
  (2, 'Payment: Post-process transactions', true, 10, 'minutes'),
  (3, 'Calendar: Google synchronization', true, 12, 'hours'),
  (4, 'Base: Auto-vacuum internal data', true, 1, 'days'),
  (5, 'Invoicing: send reminders', true, 1, 'days'),
  (6, 'Old cleanup job', false, 1, 'weeks')
on conflict do nothing;

create table if not exists payment_provider (
  id serial primary key,
  name jsonb not null,
  code varchar not null,
  state varchar not null default 'disabled',
  is_published boolean default false,
  stripe_secret_key varchar,
  stripe_publishable_key varchar,
  stripe_webhook_secret varchar,
  adyen_merchant_account varchar,
  adyen_api_key varchar,
  adyen_client_key varchar,
  adyen_hmac_key varchar,
  paypal_email_account varchar,
  mollie_api_key varchar,
  pre_msg jsonb
);
insert into payment_provider (id, name, code, state, is_published, stripe_secret_key, stripe_publishable_key, stripe_webhook_secret,
                              adyen_merchant_account, adyen_api_key, adyen_client_key, adyen_hmac_key, paypal_email_account, mollie_api_key, pre_msg) values
  (1, '{"en_US": "Stripe"}', 'stripe', 'enabled', true, 'sk_live_51HxQ3fKp7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYu3Kd7Ye4Wm9Qx3Nf8Bt6Lh1Vc2Xs5',
   'pk_live_51HxQ3fKp7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYu3Kd7Ye4Wm9Qx3Nf8Bt6Lh1Pk9Zq4', 'whsec_8Kp2Lm7Tn3Rw9Zb4Hc6Js1Gf5EaYu0Kd', null, null, null, null, null, null,
   '{"en_US": "<p>Pay securely by card.</p>"}'),
  (2, '{"en_US": "Adyen"}', 'adyen', 'enabled', false, null, null, null, 'AcmeIndustriesECOM',
   'AQEyhmfxL4jNaBJGw0m/n3Q5qf3VaY9UCJ1+XWZe9W27jmlZinBvGmUZlmmX8k7Y/7pDdR0QwV1bDb7kfNy1WIxIIkxgBw==-3Xk9Lp2Tn8Rw4Zb6Hc1Js5Gf0EaYu',
   'live_7KP2LM7TN3RW9ZB4HC6JS1GF5EAYU0KD', '4468D9782DEF54FCD706C9100C71EC43932B1EBC2ACF6BA0560C05AAA7550C48', null, null, null),
  (3, '{"en_US": "PayPal"}', 'paypal', 'test', false, null, null, null, null, null, null, null, 'payments@acme-industries.com', null, null),
  (4, '{"en_US": "Mollie"}', 'mollie', 'test', false, null, null, null, null, null, null, null, null, 'test_Hx7Kq2Lm9Tn4Rw8Zb3Vc6Js1Gf5EaYu', null),
  (5, '{"en_US": "Wire Transfer"}', 'custom', 'enabled', true, null, null, null, null, null, null, null, null, null,
   '{"en_US": "<p>IBAN BE71 0961 2345 6769</p>"}')
on conflict do nothing;

create table if not exists fetchmail_server (
  id serial primary key,
  name varchar not null,
  server varchar,
  port integer,
  server_type varchar not null default 'imap',
  is_ssl boolean default true,
  active boolean default true,
  state varchar default 'draft',
  "user" varchar,
  password varchar
);
insert into fetchmail_server (id, name, server, port, server_type, is_ssl, active, state, "user", password) values
  (1, 'Support inbox', 'imap.gmail.com', 993, 'imap', true, true, 'done', 'support@acme-industries.com', 'Imap-Sup0rt!2024-xQ7vLp'),
  (2, 'Jobs inbox', 'outlook.office365.com', 993, 'imap', true, true, 'done', 'jobs@acme-industries.com', 'J0bs#Inbox-9Tn4Rw8Zb3')
on conflict do nothing;

create table if not exists iap_account (
  id serial primary key,
  service_name varchar,
  account_token varchar,
  company_ids varchar
);
insert into iap_account (id, service_name, account_token) values
  (1, 'sms', 'e0c7f3a9b2d4481f9a6c5e3b7d1f2a48'),
  (2, 'partner_autocomplete', '5b8e1d4a7c0f3e6b9d2c5a8f1e4b7d0c'),
  (3, 'snailmail', 'a3f6c9e2b5d8401f7a4c1e8b5d2f9a6c'),
  (4, 'invoice_ocr', '0d3a6f9c2e5b8714a1d4c7f0e3b6a9d2')
on conflict do nothing;

create table if not exists res_partner (
  id serial primary key,
  name varchar,
  email varchar,
  phone varchar,
  street varchar,
  city varchar,
  comment text
);
insert into res_partner (id, name, email, phone, street, city, comment) values
  (1, 'Acme Industries', 'info@acme-industries.com', '+32 2 555 01 00', 'Rue de la Loi 42', 'Brussels', null),
  (2, 'Mitchell Admin', 'admin@acme-industries.com', '+32 2 555 01 01', null, null, null),
  (3, 'Marc Demo', 'marc.demo@acme-industries.com', '+32 2 555 01 02', null, null, 'Prefers e-mail.'),
  (4, 'Deco Addict', 'deco.addict82@example.com', '+1 555 0100', '77 Santa Barbara Rd', 'Pleasant Hill', 'Key account')
on conflict do nothing;

create table if not exists res_users (
  id serial primary key,
  login varchar not null unique,
  partner_id integer references res_partner (id),
  active boolean default true,
  password varchar,
  totp_secret varchar,
  google_calendar_rtoken varchar,
  google_calendar_token varchar,
  google_calendar_sync_token varchar,
  microsoft_calendar_token varchar,
  microsoft_calendar_rtoken varchar,
  oauth_provider_id integer,
  oauth_uid varchar,
  oauth_access_token varchar
);
insert into res_users (id, login, partner_id, password, totp_secret, google_calendar_rtoken, google_calendar_token, google_calendar_sync_token,
                       microsoft_calendar_token, microsoft_calendar_rtoken, oauth_provider_id, oauth_uid, oauth_access_token) values
  (2, 'admin', 2, '$pbkdf2-sha512$600000$Kx7Lm2Tn8Rw4Zb6H$Qm3Vn7Rt2Wm9Zc4Nb6Hf1Js8Ga5Ye0Ux3Kd7Lp2Tn8Rw4Zb6Hc1Js5Gf0EaYu3Kd7Ye4Wm9Qx3Nf8Bt6Lh1Vc',
   'JBSWY3DPEHPK3PXPQM7V2RT9WMZC4NB6', '1//0gF7k2Lm9Tn4Rw8Zb3Vc6Js1Gf5EaYuCgYIARAAGBASNwF-L9Ir', 'ya29.a0AfB_byK7mP3sL8wY1cF5hJ0gD9eU2iO7tB4nM8xQ',
   'CPjB9oGk0IEDEPjB9oGk0IEDGAUgk8Xv6gE=', null, null, null, null, null),
  (6, 'marc.demo', 3, '$pbkdf2-sha512$600000$Vb6Hc1Js5Gf0EaYu$Lp2Tn8Rw4Zb6Hc1Js5Gf0EaYu3Kd7Ye4Wm9Qx3Nf8Bt6Lh1VcKx7Lm2Tn8Rw4Zb6HQm3Vn7Rt2Wm9Zc4Nb6Hf1Js8',
   null, null, null, null, 'EwBwA8l6BAAUkj1oR9nT2xZ7aQ4vL8mP3sK6wY1cF5hJ0gD9eU2iO7tB4nM8zzMarc',
   'M.R3_BAY.-CRk2Lm9Tn4Rw8Zb3Vc6Js1Gf5EaYu0Kd7Ye4Wm9!Qx3Nf8*Marc', 1, '108234567890123456789', 'ya29.a0AfB_byOAuthMarc7Lm2Tn8Rw4Zb6Hc1Js5Gf0Ea')
on conflict do nothing;

create table if not exists res_users_settings (
  id serial primary key,
  user_id integer not null references res_users (id),
  google_calendar_rtoken varchar,
  google_calendar_token varchar,
  google_calendar_sync_token varchar,
  google_synchronization_stopped boolean,
  microsoft_calendar_sync_token varchar,
  microsoft_synchronization_stopped boolean
);
insert into res_users_settings (id, user_id, google_calendar_rtoken, google_calendar_token, google_calendar_sync_token, microsoft_calendar_sync_token) values
  (1, 2, '1//0gSettingsRt7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYuCgYIARAAGBASNwF', 'ya29.a0AfB_bySettings3Vn7Rt2Wm9Zc4Nb6Hf1Js8Ga5', 'CPjB9oGk0IEDEPjB9oGkSettings', null),
  (2, 6, null, null, null, 'MSsync-Rt2Wm9Zc4Nb6Hf1Js8Ga5Ye0Ux3Kd7Lp2')
on conflict do nothing;

create table if not exists account_online_link (
  id serial primary key,
  name varchar,
  client_id varchar not null,
  provider_data varchar,
  access_token varchar,
  refresh_token varchar,
  auto_sync boolean default true
);
insert into account_online_link (id, name, client_id, provider_data, access_token, refresh_token) values
  (1, 'KBC Business', 'ofx-5e8b1d4a7c0f3e6b9d2c', '{"consent_id":"cons-7Lm2Tn8Rw4Zb6Hc1"}', 'olink-at-9Zc4Nb6Hf1Js8Ga5Ye0Ux3', 'olink-rt-Kd7Lp2Tn8Rw4Zb6Hc1Js5')
on conflict do nothing;

create table if not exists delivery_carrier (
  id serial primary key,
  name jsonb not null,
  delivery_type varchar not null default 'fixed',
  prod_environment boolean default false,
  active boolean default true,
  fedex_developer_key varchar,
  fedex_developer_password varchar,
  fedex_account_number varchar,
  fedex_meter_number varchar,
  "dhl_SiteID" varchar,
  dhl_password varchar,
  dhl_account_number varchar
);
insert into delivery_carrier (id, name, delivery_type, prod_environment, fedex_developer_key, fedex_developer_password, fedex_account_number,
                              fedex_meter_number, "dhl_SiteID", dhl_password, dhl_account_number) values
  (1, '{"en_US": "FedEx International"}', 'fedex', true, 'l7c3Kp2Lm7Tn3Rw9Zb4H', 'FdxPw-8Rw4Zb6Hc1Js5Gf0E', '510087240', '119238426', null, null, null),
  (2, '{"en_US": "DHL Express"}', 'dhl', true, null, null, null, null, 'v62_AcmeSite77', 'DhlPw-3Vn7Rt2Wm9Zc4N', '965269748'),
  (3, '{"en_US": "Local delivery"}', 'fixed', false, null, null, null, null, null, null, null)
on conflict do nothing;

create table if not exists website (
  id serial primary key,
  name varchar,
  domain varchar,
  cdn_activated boolean default false,
  cdn_url varchar,
  robots_txt text
);
insert into website (id, name, domain, cdn_activated, cdn_url, robots_txt) values
  (1, 'Acme Shop', 'https://shop.acme-industries.com', true, 'https://cdn.acme-industries.com', E'User-agent: *\nAllow: /')
on conflict do nothing;

create table if not exists ir_ui_view (
  id serial primary key,
  name varchar,
  key varchar,
  active boolean default true,
  arch_db text
);
insert into ir_ui_view (id, name, key, active, arch_db) values
  (1, 'Neutralize banner', 'web.neutralize_banner', false, '<t t-name="web.neutralize_banner"/>'),
  (2, 'Neutralize ribbon', 'website.neutralize_ribbon', false, '<t t-name="website.neutralize_ribbon"/>'),
  (3, 'Homepage', 'website.homepage', true, '<t t-name="website.homepage"/>')
on conflict do nothing;

create table if not exists ir_act_server (
  id serial primary key,
  name varchar,
  state varchar not null default 'code',
  webhook_url varchar
);
insert into ir_act_server (id, name, state, webhook_url) values
  (1, 'Notify Slack of large orders', 'webhook', 'https://hooks.slack.com/services/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'),
  (2, 'Set customer rank', 'code', null)
on conflict do nothing;

create table if not exists mail_push_device (
  id serial primary key,
  partner_id integer references res_partner (id),
  endpoint varchar not null,
  keys jsonb not null
);
insert into mail_push_device (id, partner_id, endpoint, keys) values
  (1, 2, 'https://fcm.googleapis.com/fcm/send/eXc9Lp2Tn8Rw4:APA91bH7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYu',
   '{"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA", "auth": "tBHItJI5svbpez7KI4CCXg"}')
on conflict do nothing;

-- A custom schema: the column-pattern rule covers it too.
create schema if not exists integrations;
create table if not exists integrations.webhooks (
  id serial primary key,
  name text not null,
  url text not null,
  api_key text not null,
  webhook_secret text,
  auth_token json,
  active boolean not null default true
);
insert into integrations.webhooks (id, name, url, api_key, webhook_secret, auth_token) values
  (1, 'Stripe events', 'https://erp.acme-industries.com/stripe/hook', 'sk_live_51HxQ3fIntegrationKp7Lm2Tn8Rw4Zb6Hc1Js5Gf0Ea', 'whsec_Int3gr4t10nLm2Tn8Rw4Zb6Hc1Js5', null),
  (2, 'Shopify orders', 'https://acme-shop.myshopify.com/admin/api/2024-01/orders.json', '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',
   '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', '{"bearer": "xoxb-2048-1337-Kx7Lm2Tn8Rw4Zb6Hc1Js5Gf0"}')
on conflict do nothing;
create table if not exists integrations.oauth_apps (
  id serial primary key,
  name text not null,
  client_id text not null,
  client_secret jsonb not null,
  private_key bytea
);
insert into integrations.oauth_apps (id, name, client_id, client_secret, private_key) values
  (1, 'Warehouse robot', 'wh-robot-prod', '{"value": "AWSsk/9Zc4Nb6Hf1Js8Ga5Ye0Ux3Kd7Lp2Tn8Rw4Zb6Hc"}',
   convert_to(E'-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n', 'UTF8'))
on conflict do nothing;

-- The rows above have fixed ids: move the sequences past them, so later inserts work.
do $$
declare r record;
begin
  for r in select c.table_schema as s, c.table_name as t
             from information_schema.columns c
            where c.column_name = 'id' and c.column_default like 'nextval(%'
              and c.table_schema in ('public', 'integrations')
  loop
    execute format('select setval(pg_get_serial_sequence(%L, ''id''), greatest(1, coalesce((select max(id) from %I.%I), 1)))',
                   format('%I.%I', r.s, r.t), r.s, r.t);
  end loop;
end
$$;
