// Backups on the demo project: a sysadmin takes a backup of production, restores it into
// staging and follows both on live progress bars; a tester is refused the page and a
// developer sees it without actions; the production danger zone refuses a wrong project name
// and is not shown to admins.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

const PAGE = '/projects/acme-erp/backups';
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

/**
 * Notes every progress bar that appears under `selector`, with its aria-valuenow. The demo's
 * databases are small: a backup can be over in a second, faster than a test could poll for
 * its bar, so a MutationObserver in the page keeps the record.
 */
async function watchProgress(page, selector) {
  await page.evaluate((selector) => {
    window.__bars = [];
    const look = () => {
      const bars = selector.split(',').map((s) => `${s.trim()} [role=progressbar]`).join(', ');
      for (const bar of document.querySelectorAll(bars)) {
        window.__bars.push({ now: bar.getAttribute('aria-valuenow'), text: bar.getAttribute('aria-valuetext') });
      }
    };
    window.__watch?.disconnect();
    window.__watch = new MutationObserver(look);
    window.__watch.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    look();
  }, selector);
}
const barsSeen = (page) => page.evaluate(() => window.__bars ?? []);

const goodProductionRows = (page) => page.locator('[data-testid=backup-row][data-env=production][data-state=good]');

/** Rows matching `selector` other than those listed now (retention may prune older ones). */
async function newRows(page, selector) {
  const ids = await page.locator(selector).evaluateAll((rows) => rows.map((r) => r.dataset.id));
  return () => page.locator(selector + ids.map((id) => `:not([data-id="${id}"])`).join(''));
}

test('a sysadmin backs up production and restores it into staging, with live progress bars', async () => {
  const { context, page, errors } = await signedIn('sysadmin');
  const card = page.locator('[data-testid=env-card][data-env=production]');
  // The demo queues production's first backup at start: wait until it is good.
  await eventually(page, () => goodProductionRows(page).first(), 'the demo’s first production backup');
  const fresh = await newRows(page, '[data-testid=backup-row][data-env=production][data-state=good]');
  assert.match(await card.locator('[data-testid=last-good]').textContent(), /UTC/);

  await watchProgress(page, '[data-testid=env-card][data-env=production], [data-testid=backup-row][data-env=production]');
  // Five manual backups per environment per day: a console the tests already ran against
  // today may have used them up, and then the button explains when the next one is possible.
  const spent = /^5 of 5 used$/.test(await card.locator('[data-testid=manual-used]').textContent());
  await card.locator('[data-testid=backup-now]').click();
  let newest;
  if (spent) {
    const refused = page.locator('[data-testid=form-error]');
    await refused.waitFor();
    assert.match(await refused.textContent(), /5 manual backups in 24 hours: next possible at \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    newest = goodProductionRows(page).first();
  } else {
    await page.locator('[data-testid=form-ok]').waitFor();
    await eventually(page, () => fresh().first(), 'the new backup to be verified and listed as good');
    const bars = await barsSeen(page);
    assert.ok(bars.length > 0, 'a progress bar was shown while the backup ran');
    for (const b of bars) {
      // No aria-valuenow while the total is not known yet (an indeterminate bar says its phase).
      if (b.now === null) assert.ok(b.text, 'an indeterminate bar tells its phase');
      else assert.ok(Number(b.now) >= 0 && Number(b.now) <= 100, `aria-valuenow ${b.now}`);
    }
    newest = fresh().first();
    assert.match(await newest.textContent(), /manual/);
    assert.match(await card.locator('[data-testid=manual-used]').textContent(), /^[1-5] of 5 used$/);
  }
  assert.match(await newest.locator('td').nth(4).textContent(), /^[0-9a-f]{12}$/, 'a short sha256 of the dump');
  assert.equal(await page.locator('[data-testid=backup-row][data-state=failed]').count(), 0);
  await shot(page, 'backups-good');

  // Restore the newest good production backup into staging.
  await watchProgress(page, '[data-testid=restore-row]');
  const restored = await newRows(page, '[data-testid=restore-row][data-state=succeeded]');
  await newest.locator('[data-testid=restore-to-staging]').click();
  const dialog = page.locator('[data-testid=restore-dialog]');
  await dialog.waitFor();
  assert.equal(await dialog.locator('[data-testid=restore-backup]').inputValue(), await newest.getAttribute('data-id'), 'the backup picked is the one clicked');
  assert.match(await dialog.textContent(), /neutralized/);
  await dialog.locator('[data-testid=restore-reason]').fill('check invoices on real data');
  await dialog.locator('[data-testid=confirm-restore-staging]').click();
  await dialog.waitFor({ state: 'detached' });
  await page.locator('[data-testid=form-ok]', { hasText: 'Restore queued' }).waitFor();
  await eventually(page, () => restored().first(), 'the restore into staging to succeed');
  const restoreBars = await barsSeen(page);
  assert.ok(restoreBars.some((b) => b.now !== null), `a progress bar with a value was shown while the restore ran: ${JSON.stringify(restoreBars)}`);
  const row = restored().first();
  assert.equal(await row.getAttribute('data-target'), 'staging');
  assert.equal(await row.getAttribute('data-mode'), 'staging');
  assert.match(await row.textContent(), /check invoices on real data/);
  await shot(page, 'backups-restored');
  noErrors(errors);
  await context.close();
});

test('a tester is refused the backups page; a developer sees it without actions', async () => {
  const tester = await signedIn('tester');
  await tester.page.locator('[data-testid=forbidden]').waitFor();
  assert.equal(await tester.page.locator('[data-testid=backup-now]').count(), 0);
  noErrors(tester.errors);
  await tester.context.close();

  const dev = await signedIn('developer');
  await dev.page.locator('[data-testid=env-card]').first().waitFor();
  assert.equal(await dev.page.locator('[data-testid=backup-now]').first().isVisible(), false, 'no “Back up now”');
  assert.equal(await dev.page.locator('[data-testid=restore-to-staging]').count(), 0);
  assert.equal(await dev.page.locator('[data-testid=download-db]').count(), 0);
  assert.equal(await dev.page.locator('[data-testid=backup-settings]').count(), 0);
  assert.equal(await dev.page.locator('[data-testid=open-restore]').isVisible(), false);
  noErrors(dev.errors);
  await dev.context.close();
});

test('the production danger zone refuses a wrong project name and is for sysadmins only', async () => {
  const { context, page, errors } = await signedIn('sysadmin');
  await eventually(page, () => goodProductionRows(page).first(), 'a good production backup');
  await page.locator('[data-testid=open-restore]').click();
  const zone = page.locator('[data-testid=danger-zone]');
  await zone.waitFor();
  assert.match(await zone.textContent(), /safety backup/);
  await zone.locator('[data-testid=production-reason]').fill('a faulty import');
  await zone.locator('[data-testid=production-confirm]').fill('Acme');
  await zone.locator('[data-testid=confirm-restore-production]').click();
  const error = zone.locator('[data-testid=restore-error]');
  await error.waitFor();
  assert.match(await error.textContent(), /type the project name “Acme ERP” to confirm/);
  await shot(page, 'backups-danger-zone');
  // Escape closes the dialog; nothing was queued for production.
  await page.keyboard.press('Escape');
  await page.locator('[data-testid=restore-dialog]').waitFor({ state: 'detached' });
  assert.equal(await page.locator('[data-testid=restore-row][data-mode=production]').count(), 0);
  noErrors(errors);
  await context.close();

  const admin = await signedIn('admin');
  await admin.page.locator('[data-testid=open-restore]').click();
  await admin.page.locator('[data-testid=restore-dialog]').waitFor();
  assert.equal(await admin.page.locator('[data-testid=danger-zone]').count(), 0, 'admins restore into staging only');
  noErrors(admin.errors);
  await admin.context.close();
});
