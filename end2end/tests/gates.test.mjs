// Preflight gates on the demo: the dev branch's newest commit adds a Dockerfile that installs
// wkhtmltopdf, so its build's system-packages gate fails. A developer sees the red gate chip
// on the grid card, opens the build and reads why (explanation, fix, the Dockerfile line as
// evidence); a rebuild's gates arrive on the open page without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signedIn(role, path) {
  const ctx = await newPage(browser);
  await signIn(ctx.page, role);
  await ctx.page.waitForURL(`${BASE}/`);
  await ctx.page.goto(`${BASE}${path}`);
  await hydrated(ctx.page);
  return ctx;
}

/** The newest card of `branch` on the open grid. */
const newestCard = (page, branch) => page.locator(`[data-testid=branch-row][data-branch="${branch}"] [data-testid=build-card]`).first();

test('the grid shows a failing gate chip on the dev build and a passing one on main', async () => {
  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/builds');
  const dev = newestCard(page, 'dev');
  // The demo builds run at start; the grid follows them live.
  await dev.locator('[data-testid=gate-chip]').waitFor({ timeout: 90000 });
  assert.match(await dev.getAttribute('data-state'), /^(success|warning)$/);
  assert.equal(await dev.locator('[data-testid=gate-chip]').getAttribute('data-status'), 'fail');
  assert.equal((await dev.locator('[data-testid=gate-chip]').textContent()).trim(), '✘ gate');
  const main = newestCard(page, 'main');
  await main.locator('[data-testid=gate-chip]').waitFor({ timeout: 60000 });
  assert.equal(await main.locator('[data-testid=gate-chip]').getAttribute('data-status'), 'pass');
  // A build that failed never reaches the gates: no chip.
  const failed = page.locator('[data-testid=branch-row][data-branch="feature/invoice-layout"] [data-testid=build-card][data-state=failed]').first();
  await failed.waitFor({ timeout: 60000 });
  assert.equal(await failed.locator('[data-testid=gate-chip]').count(), 0);
  await shot(page, 'gates-grid');
  noErrors(errors);
  await context.close();
});

test('a developer opens the dev build and reads why the system-packages gate fails', async () => {
  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/builds');
  const dev = newestCard(page, 'dev');
  await dev.locator('[data-testid=gate-chip][data-status=fail]').waitFor({ timeout: 90000 });
  await dev.click();
  await page.waitForURL(/\/builds\/[0-9a-f-]{36}$/);
  await hydrated(page);
  const panel = page.locator('[data-testid=gates-panel]');
  await panel.locator('[data-testid=gate-row]').first().waitFor();
  assert.equal(await panel.getAttribute('data-overall'), 'fail');
  assert.equal(await panel.locator('[data-testid=gate-row]').count(), 6, 'one row per gate');
  assert.equal(await page.locator('[data-testid=gates-empty]').isVisible(), false);

  const row = panel.locator('[data-testid=gate-row][data-gate=system_packages]');
  assert.equal(await row.getAttribute('data-status'), 'fail');
  assert.match(await row.locator('[data-testid=gate-summary]').textContent(), /wkhtmltopdf/);
  // A failing gate is open from the start: explanation, fix and evidence.
  const details = row.locator('[data-testid=gate-details]');
  assert.ok(await details.isVisible(), 'the failing gate shows its details');
  assert.match(await details.locator('[data-testid=gate-explanation]').textContent(), /operating-system packages/);
  assert.match(await details.locator('[data-testid=gate-fix]').textContent(), /^Suggested fix: .*requirements\.txt/);
  assert.match(await details.locator('[data-testid=evidence-location]').first().textContent(), /^Dockerfile:\d+/);
  assert.match(await details.locator('[data-testid=evidence-found]').first().textContent(), /apt-get install -y wkhtmltopdf/);
  assert.equal(await details.locator('[data-testid=gate-evidence]').evaluate((e) => getComputedStyle(e).fontFamily.includes('mono')), true, 'evidence is monospace');

  // Passing gates are closed; a click opens one and a second click closes it.
  const smtp = panel.locator('[data-testid=gate-row][data-gate=smtp]');
  assert.equal(await smtp.getAttribute('data-status'), 'pass');
  assert.equal(await smtp.locator('[data-testid=gate-details]').isVisible(), false);
  await smtp.locator('[data-testid=gate-toggle]').click();
  await smtp.locator('[data-testid=gate-details]').waitFor();
  assert.match(await smtp.locator('[data-testid=gate-explanation]').textContent(), /submission port/);
  await shot(page, 'gates-build');
  await smtp.locator('[data-testid=gate-toggle]').click();
  await smtp.locator('[data-testid=gate-details]').waitFor({ state: 'hidden' });
  noErrors(errors);
  await context.close();
});

test('a rebuild shows the empty panel, then its gates arrive without a reload', async () => {
  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/builds');
  const dev = newestCard(page, 'dev');
  await dev.locator('[data-testid=gate-chip]').waitFor({ timeout: 90000 });
  await dev.click();
  await page.waitForURL(/\/builds\/[0-9a-f-]{36}$/);
  await hydrated(page);
  const first = page.url();
  await page.click('[data-testid=rebuild]');
  await page.waitForURL((u) => /\/builds\/[0-9a-f-]{36}$/.test(u.href) && u.href !== first);
  await hydrated(page);
  const state = await page.locator('[data-testid=build-state]').first().getAttribute('data-state');
  if (state === 'pending' || state === 'running') {
    assert.ok(await page.locator('[data-testid=gates-empty]').isVisible(), 'no gates before the build finished');
    assert.match(await page.locator('[data-testid=gates-empty]').textContent(), /Gates run after a successful build/);
  }
  const reloads = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) reloads.push(f.url()); });
  await page.locator('[data-testid=gate-row][data-gate=system_packages][data-status=fail]').waitFor({ timeout: 90000 });
  assert.deepEqual(reloads, [], 'the gates came in live');
  noErrors(errors);
  await context.close();
});
