// Promotions on the demo project: a developer asks for staging's build to go to
// production, a PM approves it in one click and production runs it; a requester cannot
// approve their own request; a failing gate blocks a promotion and says why; a rollback
// brings the previous build back and adds a history entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

const PAGE = '/projects/acme-erp/promotions';
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signedIn(role) {
  const ctx = await newPage(browser);
  await signIn(ctx.page, role);
  await ctx.page.waitForURL(`${BASE}/`);
  await ctx.page.goto(`${BASE}${PAGE}`);
  await hydrated(ctx.page);
  return ctx;
}

const column = (page, env) => page.locator(`[data-testid=pipeline-column][data-env=${env}]`);
const currentBuild = async (page, env) => column(page, env).locator('[data-testid=current-build]').getAttribute('data-number');

/** The demo's builds run at start: waits (reloading) until every environment runs one. */
async function waitForPipeline(page) {
  for (let i = 0; i < 90; i++) {
    const counts = await Promise.all(['production', 'staging', 'development'].map((e) => column(page, e).locator('[data-testid=current-build]').count()));
    if (counts.every((c) => c === 1)) return;
    await page.waitForTimeout(2000);
    await page.reload();
    await hydrated(page);
  }
  assert.fail('the demo environments never got their first builds');
}

async function request(page, env, note) {
  await column(page, env).locator('[data-testid=promote]').click();
  await column(page, env).locator('[data-testid=promote-note]').fill(note);
  await column(page, env).locator('[data-testid=confirm-promote]').click();
  await page.locator('[data-testid=form-ok]').waitFor();
}

const card = (page, to) => page.locator('[data-testid=pending-promotion]', { hasText: `→ ${to}` });

/**
 * Waits until `locator()` is visible. The page updates live; should a live update be late
 * (two cores, demo builds running), the page is reloaded every 10 s, for up to two minutes.
 */
async function eventually(page, locator, what) {
  for (let i = 0; i < 12; i++) {
    try {
      await locator().waitFor({ timeout: 10000 });
      return;
    } catch {
      await page.reload();
      await hydrated(page);
    }
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('the requester cannot approve their own promotion and may cancel it', async () => {
  const { context, page, errors } = await signedIn('pm');
  await waitForPipeline(page);
  await request(page, 'staging', 'pm asks');
  const c = card(page, 'production');
  await eventually(page, () => c.locator('[data-testid=promotion-state][data-state=awaiting_approval]'), 'the request to await approval');
  assert.equal(await c.locator('[data-testid=approve]').isVisible(), false, 'no approve button on one’s own request');
  assert.match(await c.locator('[data-testid=approve-blocked]').textContent(), /someone else must approve/);
  // Even asking the server directly is refused.
  const id = await page.evaluate(async () => {
    const r = await fetch('/api/promotions', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: 'slug=acme-erp' });
    return (await r.json()).pending[0].row.id;
  });
  const status = await page.evaluate(async (id) => (await fetch('/api/promotion-approve', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: `id=${id}`,
  })).status, id);
  assert.equal(status, 403);
  await c.locator('[data-testid=cancel]').click();
  await eventually(page, () => page.locator('[data-testid=history-row][data-state=cancelled]').first(), 'the cancelled request in the history');
  await context.close();
  noErrors(errors.filter((e) => !/status of 403/.test(e)));
});

test('a developer requests staging → production, a PM approves in one click, production runs the build', async () => {
  const dev = await signedIn('developer');
  const stagingBuild = await currentBuild(dev.page, 'staging');
  await request(dev.page, 'staging', 'new invoice layout');
  const devCard = card(dev.page, 'production');
  await eventually(dev.page, () => devCard.locator('[data-testid=promotion-state][data-state=awaiting_approval]'), 'the request to await approval');
  assert.equal(await devCard.locator('[data-testid=approve]').isVisible(), false, 'developers do not approve');
  assert.ok(await devCard.locator('[data-testid=gate-chips] [data-gate]').count() === 6, 'six gates shown');
  await shot(dev.page, 'promotions-pending');

  const pm = await signedIn('pm');
  const pmCard = card(pm.page, 'production');
  await pmCard.locator('[data-testid=approve]').click();
  // Production switches to the staging build (live, or at the latest after a reload).
  for (const p of [pm.page, dev.page]) {
    await eventually(p, () => p.locator(`[data-testid=pipeline-column][data-env=production] [data-testid=current-build][data-number="${stagingBuild}"]`), 'production to run the staging build');
  }
  await eventually(pm.page, () => pm.page.locator('[data-testid=history-row][data-state=promoted]').first(), 'the promotion in the history');
  assert.equal(await column(pm.page, 'production').locator('[data-testid=instance-state]').textContent(), 'running');
  await shot(pm.page, 'promotions-promoted');
  noErrors(dev.errors);
  noErrors(pm.errors);
  await dev.context.close();
  await pm.context.close();
});

test('a failing gate blocks a promotion and shows why', async () => {
  const { context, page, errors } = await signedIn('developer');
  await request(page, 'development', 'try the dev build');
  const c = card(page, 'staging');
  await eventually(page, () => c.locator('[data-testid=promotion-state][data-state=preflight_failed]'), 'the gates to fail');
  const problem = c.locator('[data-testid=gate-problem][data-gate=system_packages]');
  await problem.waitFor();
  const text = await problem.textContent();
  assert.match(text, /Dockerfile/, 'the evidence names the file');
  assert.match(text, /Fix:/, 'a suggested fix');
  await shot(page, 'promotions-gate-failed');
  const cancelled = await page.locator('[data-testid=history-row][data-state=cancelled]').count();
  await c.locator('[data-testid=cancel]').click();
  await eventually(page, () => page.locator('[data-testid=history-row][data-state=cancelled]').nth(cancelled), 'the cancelled request in the history');
  noErrors(errors);
  await context.close();
});

test('a rollback restores the previous build and adds a history entry', async () => {
  const { context, page, errors } = await signedIn('pm');
  const before = await currentBuild(page, 'production');
  await column(page, 'production').locator('[data-testid=rollback]').click();
  await column(page, 'production').locator('[data-testid=rollback-note]').fill('invoices look wrong');
  await column(page, 'production').locator('[data-testid=confirm-rollback]').click();
  await eventually(page, () => page.locator('[data-testid=history-row][data-kind=rollback][data-state=promoted]'), 'the rollback in the history');
  const after = await currentBuild(page, 'production');
  assert.notEqual(after, before);
  await shot(page, 'promotions-rolled-back');
  noErrors(errors);
  await context.close();
});
