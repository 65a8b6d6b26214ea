// Database scanner on the demo: a developer scans staging's database and reads the risk
// register; an admin suppresses a finding with a reason; a sysadmin applies the fix plan and
// sees the re-scan resolve what it patched; history (score chart, drift) and the inventory
// browser show the same scans.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedInAt, shot, noErrors, hydrated, BASE } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const signedIn = (role, path) => signedInAt(browser, role, path);
const stagingCard = (page) => page.locator('[data-testid=scan-target]', { hasText: 'Acme ERP / staging' });

/** Waits until staging's card shows a finished scan (no job under way). */
async function scanned(page) {
  const card = stagingCard(page);
  await card.locator('text=/Scanned|some lints failed/').waitFor({ timeout: 60000 });
  await card.locator('[data-testid=scan-busy]').waitFor({ state: 'detached', timeout: 60000 });
}

test('a developer scans staging, an admin suppresses a finding, a sysadmin applies the fix plan', async () => {
  // Scan now, and the register fills.
  const dev = await signedIn('developer', '/scanner');
  await stagingCard(dev.page).waitFor();
  const key = await stagingCard(dev.page).getAttribute('data-target');
  await stagingCard(dev.page).locator('[data-testid=scan-now]').click();
  await scanned(dev.page);
  await dev.page.goto(`${BASE}/scanner?target=${encodeURIComponent(key)}`);
  await hydrated(dev.page);
  const findings = dev.page.locator('[data-testid=finding]');
  await findings.first().waitFor();
  assert.ok(await findings.count() > 0);
  // Developers read but cannot suppress.
  await findings.first().locator('[data-testid=finding-toggle]').click();
  await dev.page.locator('text=Only admins can suppress a finding.').first().waitFor();
  await shot(dev.page, 'scanner-register');
  noErrors(dev.errors);
  await dev.context.close();

  // An admin suppresses the first info-level finding (with a reason; the date defaults to 90 days).
  const admin = await signedIn('admin', `/scanner?target=${encodeURIComponent(key)}&level=INFO`);
  const rows = admin.page.locator('[data-testid=finding]');
  await rows.first().waitFor();
  const before = await rows.count();
  const lint = await rows.first().getAttribute('data-lint');
  await rows.first().locator('[data-testid=finding-toggle]').click();
  const form = admin.page.locator('[data-testid=finding-details]:visible [data-testid=suppress-form]');
  await form.locator('input[name=reason]').fill('accepted for the demo: reviewed by the e2e test');
  await form.locator('button[type=submit]').click();
  await admin.page.locator('[data-testid=form-ok]', { hasText: 'Suppressed' }).waitFor();
  await admin.page.waitForFunction((n) => document.querySelectorAll('[data-testid=finding]').length === n - 1, before);
  await admin.page.goto(`${BASE}/scanner?target=${encodeURIComponent(key)}&status=suppressed`);
  await hydrated(admin.page);
  const sup = admin.page.locator('[data-testid=finding]', { has: admin.page.locator('[data-testid=finding-status]', { hasText: 'suppressed until' }) });
  await sup.first().waitFor();
  assert.equal(await sup.first().getAttribute('data-lint'), lint);
  noErrors(admin.errors);
  await admin.context.close();

  // A sysadmin applies the plan; the re-scan resolves its patches.
  const sys = await signedIn('sysadmin', `/scanner/plans?target=${encodeURIComponent(key)}`);
  const patches = sys.page.locator('[data-testid=patch-pick]');
  await patches.first().waitFor();
  const picked = await patches.count();
  assert.ok(picked > 0, 'the demo database has patches to apply');
  assert.match(await sys.page.locator('[data-testid=plan-preview]').innerText(), /^begin;[\s\S]*commit;$/);
  await shot(sys.page, 'scanner-plans');
  await sys.page.locator('[data-testid=apply-plan]').click();
  const plan = sys.page.locator('[data-testid=plan]').first();
  await plan.locator('[data-testid=plan-status]', { hasText: 'applied' }).waitFor({ timeout: 60000 });
  const rescan = await plan.locator('[data-testid=plan-rescan]').innerText();
  const resolved = Number(/(\d+) findings? resolved/.exec(rescan)?.[1]);
  assert.ok(resolved >= picked, `the re-scan resolved the ${picked} patched findings: ${rescan}`);
  await sys.page.locator('[data-testid=empty-state]', { hasText: 'Nothing to fix automatically' }).waitFor();

  // History: the score chart and the drift of the re-scan.
  await plan.locator('a', { hasText: 'drift' }).click();
  await sys.page.waitForURL(/\/scanner\/history\?/);
  await hydrated(sys.page);
  await sys.page.locator('[data-testid=score-chart] circle').nth(1).waitFor();
  const fixed = sys.page.locator('[data-testid=drift-fixed] li');
  await fixed.first().waitFor();
  assert.ok(await fixed.count() >= picked);
  await shot(sys.page, 'scanner-history');

  // Inventory: schemas, then the public schema's objects.
  await sys.page.click('[data-testid=tab-inventory]');
  await sys.page.waitForURL(/\/scanner\/inventory/);
  await hydrated(sys.page);
  await sys.page.locator('[data-testid=schema-link]', { hasText: 'public' }).first().click();
  await sys.page.waitForURL(/schema=public/);
  await sys.page.locator('[data-testid=object]').first().waitFor();
  assert.match(await sys.page.locator('[data-testid=breadcrumb]').innerText(), /Acme ERP → acme_erp_staging\S* → public/);
  await shot(sys.page, 'scanner-inventory');
  noErrors(sys.errors);
  await sys.context.close();
});

test('testers do not see the scanner', async () => {
  const { page, errors, context } = await signedIn('tester', '/scanner');
  await page.locator('[data-testid=forbidden]').waitFor();
  assert.equal(await page.locator('a[href="/scanner"]').count(), 0, 'no menu entry');
  noErrors(errors);
  await context.close();
});
