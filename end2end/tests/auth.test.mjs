// Sign-in journeys: every role reaches the dashboard; wrong passwords, forbidden screens,
// sign-out and an ended session behave as a person expects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE, ROLES, email } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

for (const role of ROLES) {
  test(`${role} signs in and sees the dashboard with the demo projects`, async () => {
    const { context, page, errors } = await newPage(browser);
    await signIn(page, role);
    await page.waitForURL(`${BASE}/`);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const cards = page.locator('[data-testid=project-card]');
    await cards.first().waitFor(); // the heading renders before the projects resource resolves
    assert.equal(await cards.count(), 2);
    assert.match(await cards.first().innerText(), /Acme ERP/);
    assert.equal(await page.locator('[data-testid=environment-row]').count(), 6);
    assert.equal(await page.locator('[data-testid=user-email]').innerText(), email(role));
    const nav = await page.locator('[data-testid=main-nav]').innerText();
    assert.equal(nav.includes('Members'), role === 'admin', `members link for ${role}`);
    assert.equal(nav.includes('Audit log'), role === 'admin' || role === 'sysadmin', `audit link for ${role}`);
    if (role === 'admin') await shot(page, 'dashboard');
    noErrors(errors);
    await context.close();
  });
}

test('a wrong password shows an error and keeps the user on the login page', async () => {
  const { context, page, errors } = await newPage(browser);
  await signIn(page, 'developer', 'not-the-password');
  const error = page.locator('[data-testid=login-error]');
  await error.waitFor();
  assert.match(await error.innerText(), /Wrong email or password/);
  assert.ok(page.url().startsWith(`${BASE}/login`));
  await shot(page, 'login-error');
  noErrors(errors);
  await context.close();
});

test('a tester opening an admin screen gets a clear 403', async () => {
  const { context, page, errors } = await newPage(browser);
  await signIn(page, 'tester');
  await page.waitForURL(`${BASE}/`);
  const res = await page.goto(`${BASE}/admin/members`);
  assert.equal(res.status(), 403);
  await page.locator('[data-testid=forbidden]').waitFor();
  assert.match(await page.locator('[data-testid=forbidden]').innerText(), /Tester role cannot manage members/);
  await hydrated(page);
  await shot(page, 'forbidden');
  noErrors(errors);
  await context.close();
});

test('signing out ends the session and protected pages send you to sign in', async () => {
  const { context, page, errors } = await newPage(browser);
  await signIn(page, 'pm');
  await page.waitForURL(`${BASE}/`);
  await hydrated(page);
  await page.locator('[data-testid=user-menu] summary').click();
  await page.click('[data-testid=logout]');
  await page.waitForURL(/\/login/);
  await page.goto(`${BASE}/`);
  assert.ok(page.url().startsWith(`${BASE}/login`), page.url());
  noErrors(errors);
  await context.close();
});

test('after a session ends, signing in again returns to the page you were on', async () => {
  const { context, page, errors } = await newPage(browser);
  await signIn(page, 'sysadmin');
  await page.waitForURL(`${BASE}/`);
  await context.clearCookies();
  await page.goto(`${BASE}/audit?action=auth.`);
  await page.waitForURL(/\/login\?next=/);
  await hydrated(page);
  await page.fill('input[name=email]', email('sysadmin'));
  await page.fill('input[name=password]', process.env.ODOOOPS_DEMO_PASSWORD ?? 'demo-password-123');
  await page.click('[data-testid=login-submit]');
  await page.waitForURL(`${BASE}/audit?action=auth.`);
  await page.locator('[data-testid=audit-table]').waitFor();
  noErrors(errors);
  await context.close();
});

test('an unknown address shows the not-found page', async () => {
  const { context, page, errors } = await newPage(browser);
  const res = await page.goto(`${BASE}/no/such/page`);
  assert.equal(res.status(), 404);
  await page.locator('[data-testid=page-not-found]').waitFor();
  noErrors(errors);
  await context.close();
});
