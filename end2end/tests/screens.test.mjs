// The main journey of each screen: project page, members, API tokens, audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function asAdmin() {
  const ctx = await newPage(browser);
  await signIn(ctx.page, 'admin');
  await ctx.page.waitForURL(`${BASE}/`);
  await hydrated(ctx.page);
  return ctx;
}

test('a developer opens a project from the switcher and sees its environments and branches', async () => {
  const { context, page, errors } = await newPage(browser);
  await signIn(page, 'developer');
  await page.waitForURL(`${BASE}/`);
  await hydrated(page);
  await page.locator('[data-testid=switcher] summary').click();
  await page.locator('[data-testid=switcher] a', { hasText: 'Acme ERP' }).click();
  await page.waitForURL(`${BASE}/projects/acme-erp`);
  await page.getByRole('heading', { name: 'Acme ERP' }).waitFor();
  assert.equal(await page.locator('[data-testid=environment-card]').count(), 3);
  // The demo's five branches, plus any a build test pushed before this file ran.
  assert.ok(await page.locator('[data-testid=branch-row]').count() >= 5);
  await shot(page, 'project');
  noErrors(errors);
  await context.close();
});

test('an admin adds a member, changes their role, and the audit log records it', async () => {
  const { context, page, errors } = await asAdmin();
  await page.click('a[href="/admin/members"]');
  await page.waitForURL(`${BASE}/admin/members`);
  await page.locator('[data-testid=members-table]').waitFor();
  const before = await page.locator('[data-testid=member-row]').count();
  const form = page.locator('[data-testid=add-member-form]');
  const newEmail = `e2e-${Date.now()}@example.com`;
  await form.locator('input[name="member[email]"]').fill(newEmail);
  await form.locator('input[name="member[display_name]"]').fill('E2E Person');
  await form.locator('select[name="member[role]"]').selectOption('tester');
  await form.locator('input[name="member[password]"]').fill('e2e-password-123');
  await form.locator('button[type=submit]').click();
  await page.locator('[data-testid=form-ok]').waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=member-row]').length === n + 1, before);
  const row = page.locator('[data-testid=member-row]', { hasText: newEmail });
  await row.locator('select[name=role]').selectOption('pm');
  await row.getByRole('button', { name: 'Save' }).click();
  await page.locator('[data-testid=form-ok]', { hasText: 'Role updated' }).waitFor();
  await shot(page, 'members');

  // A bad email is refused in place, and nothing is added.
  await form.locator('input[name="member[email]"]').fill('no-at-sign');
  await form.locator('input[name="member[password]"]').fill('e2e-password-123');
  await page.evaluate(() => document.querySelector('[data-testid=add-member-form] input[name="member[email]"]').type = 'text');
  await form.locator('button[type=submit]').click();
  await page.locator('[data-testid=add-member-form] [data-testid=form-error]').waitFor();
  assert.equal(await page.locator('[data-testid=member-row]').count(), before + 1);

  await page.click('a[href="/audit"]');
  await page.waitForURL(`${BASE}/audit`);
  const audit = await page.locator('[data-testid=audit-table]').innerText();
  assert.match(audit, /member\.added/);
  assert.match(audit, /member\.role_changed/);
  assert.match(audit, /auth\.login_succeeded/);
  await shot(page, 'audit');
  noErrors(errors);
  await context.close();
});

test('an admin creates an API token, sees it once, and revokes it', async () => {
  const { context, page, errors } = await asAdmin();
  await page.goto(`${BASE}/admin/tokens`);
  await hydrated(page);
  const form = page.locator('[data-testid=create-token-form]');
  await form.locator('input[name="token[name]"]').fill('E2E pipeline');
  await form.locator('select[name="token[project]"]').selectOption('acme-erp');
  await form.locator('button[type=submit]').click();
  const value = await page.locator('[data-testid=new-token-value]').innerText();
  assert.match(value, /^oops_[A-Za-z0-9]{40}$/);
  const row = page.locator('[data-testid=token-row]', { hasText: 'E2E pipeline' });
  await row.waitFor();
  assert.ok(!(await page.locator('[data-testid=tokens-table]').innerText()).includes(value), 'the list never shows the secret');
  const res = await page.request.get(`${BASE}/api/v1/whoami`, { headers: { authorization: `Bearer ${value}` } });
  assert.equal(res.status(), 200);
  await shot(page, 'tokens');
  await row.locator('[data-testid=revoke-token]').click();
  await page.locator('[data-testid=token-row]', { hasText: 'E2E pipeline' }).locator('text=revoked').waitFor();
  const after = await page.request.get(`${BASE}/api/v1/whoami`, { headers: { authorization: `Bearer ${value}` } });
  assert.equal(after.status(), 401);
  noErrors(errors);
  await context.close();
});
