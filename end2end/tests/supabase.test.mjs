// The Supabase panel on the demo's linked project (a Supabase-like database served by the
// console's local Management API, reached only through /api/supabase-proxy): an admin opens
// it from the project, runs a query and downloads CSV, browses a table, reads the schema,
// auth (sign-ups chart), storage, logs and advisors, and adds and deletes a secret; a
// developer's editor stays read-only and a write fails; a hosted link without a management
// token shows the upstream error instead of a blank panel, and is unlinked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedInAt, shot, noErrors, hydrated, BASE } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const REF = 'acmeerplocalsupabase';
const PANEL = `/projects/acme-erp/supabase/${REF}`;

async function section(page, key) {
  await page.locator(`[data-testid=section-${key}]`).click();
  await page.waitForURL(new RegExp(`section=${key}`));
  await hydrated(page);
}

/** Upstream refusals the tests provoke (a write in read-only mode, a bad secret name, no
 * token for the hosted link) are logged by Chromium as failed resources: expected. */
const unexpected = (errors) => errors.filter((e) => !/status of (400|502)/.test(e));

/** Proxied requests the browser made, with their statuses. */
function watchProxy(page) {
  const seen = [];
  page.on('response', (r) => { if (r.url().includes('/api/supabase-proxy/')) seen.push({ url: r.url(), status: r.status() }); });
  return seen;
}

test('an admin opens the panel from the project, runs a query and uses every section', async () => {
  const { page, errors, context } = await signedInAt(browser, 'admin', '/projects/acme-erp');
  const proxied = watchProxy(page);
  await page.locator('[data-testid=open-supabase]').click();
  await page.waitForURL(`${BASE}/projects/acme-erp/supabase`);
  await hydrated(page);
  const row = page.locator('[data-testid=supabase-link-row]', { hasText: REF });
  await row.waitFor();
  await shot(page, 'supabase-links');
  await row.locator('[data-testid=open-panel]').click();
  await page.waitForURL(`${BASE}${PANEL}`);
  await hydrated(page);

  // Database: tables with estimates, then the SQL editor.
  await page.locator('[data-testid=table-item]', { hasText: 'orders' }).first().waitFor();
  const editor = page.locator('[data-testid=sql-input]');
  await editor.fill('select status, count(*) as orders from public.orders group by status order by status');
  await editor.press('Control+Enter');
  const result = page.locator('[data-testid=sql-result]');
  await result.waitFor();
  assert.deepEqual(await result.locator('th').allTextContents(), ['status', 'orders']);
  const counts = await result.locator('[data-testid=result-row]').allTextContents();
  assert.equal(counts.length, 4, `four statuses: ${counts}`);
  await page.locator('[data-testid=sql-summary]', { hasText: '4 rows' }).waitFor();
  const csv = decodeURIComponent((await page.locator('[data-testid=sql-csv]').getAttribute('href')).replace(/^data:text\/csv;charset=utf-8,/, ''));
  assert.match(csv, /^status,orders\r\nconfirmed,100\r\ndraft,100\r\npaid,100\r\nshipped,100\r\n$/);
  const download = page.waitForEvent('download');
  await page.locator('[data-testid=sql-csv]').click();
  assert.equal((await download).suggestedFilename(), 'query.csv');
  // The editor is read-only unless unticked: a write fails with the database's reason.
  await editor.fill("update public.orders set status = 'lost'");
  await page.locator('[data-testid=sql-run]').click();
  await page.locator('[data-testid=proxy-error]', { hasText: /read-only transaction/ }).waitFor();
  // Browse a table, paged.
  await page.locator('[data-testid=table-item]', { hasText: 'customers' }).first().click();
  const browse = page.locator('[data-testid=browse-table]');
  await browse.waitFor();
  assert.equal(await browse.locator('[data-testid=result-row]').count(), 50);
  await page.locator('[data-testid=browse-next]').click();
  await page.locator('[data-testid=browse-page]', { hasText: 'rows 51–100' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=browse-table] [data-testid=result-row]').length === 10);
  await shot(page, 'supabase-database');

  // Schema: policies and the migration history.
  await section(page, 'schema');
  await page.locator('[data-testid=schema-table]').waitFor();
  await page.locator('[data-testid=schema-tab-policies]').click();
  await page.locator('[data-testid=schema-table] td', { hasText: 'own profile' }).waitFor();
  await page.locator('[data-testid=schema-tab-migrations]').click();
  await page.locator('[data-testid=schema-table] td', { hasText: 'profiles_rls' }).waitFor();
  assert.equal(await page.locator('[data-testid=schema-table] [data-testid=result-row]').count(), 4);
  await shot(page, 'supabase-schema');

  // Auth: sign-ups chart, users, and an admin edit of the configuration.
  await section(page, 'auth');
  await page.locator('[data-testid=signup-total]', { hasText: '140' }).waitFor();
  assert.equal(await page.locator('[data-testid=signup-chart] rect').count(), 30);
  await page.locator('[data-testid=auth-users] [data-testid=result-row]').first().waitFor();
  const site = page.locator('[data-testid=auth-config] input[name=site_url]');
  await site.fill('https://shop.acme.example');
  await page.locator('[data-testid=auth-save]', { hasText: 'Save 1 change' }).click();
  await page.locator('[data-testid=auth-saved]').waitFor();
  await page.reload();
  await hydrated(page);
  assert.equal(await page.locator('[data-testid=auth-config] input[name=site_url]').inputValue(), 'https://shop.acme.example');
  await shot(page, 'supabase-auth');

  // Storage buckets.
  await section(page, 'storage');
  await page.locator('[data-testid=bucket-row]').first().waitFor();
  assert.deepEqual(await page.locator('[data-testid=bucket-row] td:first-child').allTextContents(), ['avatars', 'exports', 'invoices']);

  // Secrets: write-only values, digests listed; add then delete.
  await section(page, 'secrets');
  await page.locator('[data-testid=secrets-section] [data-testid=panel-empty], [data-testid=secrets]').first().waitFor();
  await page.fill('[data-testid=secret-form] input[name=name]', 'STRIPE_API_KEY');
  await page.fill('[data-testid=secret-form] input[name=value]', 'sk_test_e2e_value');
  await page.locator('[data-testid=secret-save]').click();
  const secret = page.locator('[data-testid=secret-row]', { hasText: 'STRIPE_API_KEY' });
  await secret.waitFor();
  assert.ok(!(await page.content()).includes('sk_test_e2e_value'), 'the value is never shown');
  await page.fill('[data-testid=secret-form] input[name=name]', 'SUPABASE_URL');
  await page.fill('[data-testid=secret-form] input[name=value]', 'x');
  await page.locator('[data-testid=secret-save]').click();
  await page.locator('[data-testid=secret-form] [data-testid=proxy-error]', { hasText: 'upstream returned 400' }).waitFor();
  await shot(page, 'supabase-secrets');
  await secret.locator('[data-testid=secret-delete]').click();
  await secret.waitFor({ state: 'detached' });

  // Logs: this session's own proxied requests are there.
  await section(page, 'logs');
  await page.locator('[data-testid=log-lines] [data-testid=result-row]', { hasText: 'database/query' }).first().waitFor();
  await page.selectOption('[data-testid=log-source]', 'postgres_logs');
  await page.locator('[data-testid=log-lines] [data-testid=result-row]').first().waitFor();
  await shot(page, 'supabase-logs');

  // Advisors: the scanner's findings on that database, in splinter's shape.
  await section(page, 'advisors');
  await page.locator('[data-testid=advisors-performance] [data-testid=advisor-lint]', { hasText: 'Unindexed foreign keys' }).first().waitFor({ timeout: 60000 });
  await page.locator('[data-testid=advisors-security] [data-testid=advisor-lint], [data-testid=advisors-security] [data-testid=panel-empty]').first().waitFor();
  await shot(page, 'supabase-advisors');

  assert.ok(proxied.length > 10, 'the panel talks to the proxy');
  assert.ok(proxied.every((r) => r.url.startsWith(`${BASE}/api/supabase-proxy/v1/projects/${REF}`)), 'and only to the proxy for this project');
  noErrors(unexpected(errors));
  await context.close();
});

test('a developer reads through the panel but cannot write', async () => {
  const { page, errors, context } = await signedInAt(browser, 'developer', PANEL);
  await page.locator('[data-testid=table-item]').first().waitFor();
  assert.ok(await page.locator('[data-testid=sql-read-only]').isDisabled(), 'read-only cannot be unticked');
  await page.locator('[data-testid=sql-input]').fill('delete from public.customers');
  await page.locator('[data-testid=sql-run]').click();
  await page.locator('[data-testid=proxy-error]', { hasText: /read-only transaction/ }).waitFor();
  await page.locator('[data-testid=sql-input]').fill('select count(*) as n from public.customers');
  await page.locator('[data-testid=sql-run]').click();
  await page.locator('[data-testid=sql-result] td', { hasText: '60' }).waitFor();
  await section(page, 'secrets');
  await page.locator('[data-testid=secrets-section] [data-testid=panel-empty], [data-testid=secrets]').first().waitFor();
  assert.equal(await page.locator('[data-testid=secret-form]').count(), 0, 'no secret form for developers');
  await page.goto(`${BASE}/projects/acme-erp/supabase`);
  await hydrated(page);
  await page.locator('[data-testid=supabase-link-row]').first().waitFor();
  assert.equal(await page.locator('[data-testid=link-form]').count(), 0);
  assert.equal(await page.locator('[data-testid=unlink]').count(), 0);
  noErrors(unexpected(errors));
  await context.close();
});

test('an admin links a hosted project, sees the upstream error, and unlinks it', async () => {
  const { page, errors, context } = await signedInAt(browser, 'admin', '/projects/acme-erp/supabase');
  const form = page.locator('[data-testid=link-form]');
  await form.locator('input[name=name]').fill('Cloud staging');
  await form.locator('input[name=project_ref]').fill('not-a-ref');
  await page.locator('[data-testid=link-submit]').click();
  await page.locator('[data-testid=form-error]', { hasText: '20 lowercase letters' }).waitFor();
  await form.locator('input[name=project_ref]').fill('zyxwvutsrqponmlkjihg');
  await page.locator('[data-testid=link-submit]').click();
  const row = page.locator('[data-testid=supabase-link-row]', { hasText: 'zyxwvutsrqponmlkjihg' });
  await row.waitFor();
  // A local link to a database that does not answer is refused with the reason.
  await page.locator('[data-testid=kind-local]').check();
  await form.locator('input[name=name]').fill('Nowhere');
  await form.locator('input[name=db_url]').fill('postgres://someone:hunter2secret@127.0.0.1:1/none');
  await page.locator('[data-testid=link-submit]').click();
  const refused = page.locator('[data-testid=form-error]', { hasText: 'could not connect' });
  await refused.waitFor({ timeout: 15000 });
  assert.ok(!(await refused.textContent()).includes('hunter2secret'), 'the password is not echoed');

  await row.locator('[data-testid=open-panel]').click();
  await hydrated(page);
  await page.locator('[data-testid=proxy-error]', { hasText: 'no Supabase management token is configured for this organization' }).first().waitFor();
  await shot(page, 'supabase-upstream-error');

  // The organization's own token: saved write-only, shown by its last four characters.
  await page.goto(`${BASE}/projects/acme-erp/supabase`);
  await hydrated(page);
  await page.locator('[data-testid=token-status]', { hasText: 'No token' }).waitFor();
  await page.fill('[data-testid=token-input]', 'sbp_e2e_token_0123456789wxyz');
  await page.locator('[data-testid=token-save]').click();
  await page.locator('[data-testid=token-status]', { hasText: '…wxyz' }).waitFor();
  assert.ok(!(await page.content()).includes('sbp_e2e_token_0123456789wxyz'), 'the token is never shown');
  await shot(page, 'supabase-token');
  await page.locator('[data-testid=token-remove]').click();
  await page.locator('[data-testid=token-status]', { hasText: 'No token' }).waitFor();

  await page.goto(`${BASE}/projects/acme-erp/supabase`);
  await hydrated(page);
  page.once('dialog', (d) => d.accept());
  await page.locator('[data-testid=supabase-link-row]', { hasText: 'zyxwvutsrqponmlkjihg' }).locator('[data-testid=unlink]').click();
  await page.locator('[data-testid=supabase-link-row]', { hasText: 'zyxwvutsrqponmlkjihg' }).waitFor({ state: 'detached' });
  // The proxy now refuses that ref outright.
  const status = await page.evaluate(async () => (await fetch('/api/supabase-proxy/v1/projects/zyxwvutsrqponmlkjihg/config/auth')).status);
  assert.equal(status, 403);
  noErrors(unexpected(errors));
  await context.close();
});
