// Web shell on the demo: a developer opens a shell on staging, types a command into xterm.js
// and sees its output, reloads the page and finds the same shell with its scrollback, ends
// it and replays the transcript; production is for sysadmins and testers get no shell; SSH
// keys are added and removed in the profile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedInAt, shot, noErrors, hydrated } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const signedIn = (role, path) => signedInAt(browser, role, path);

/** The visible text of the active terminal (xterm's DOM renderer). */
const screenText = (page) => page.locator('[data-testid=shell-pane]:not(.hidden) .xterm-rows').innerText();

async function waitForScreen(page, needle, timeout = 20000) {
  const until = Date.now() + timeout;
  let last = '';
  while (Date.now() < until) {
    last = await screenText(page).catch(() => '');
    if (last.includes(needle)) return last;
    await page.waitForTimeout(200);
  }
  assert.fail(`terminal never showed ${needle}; it shows:\n${last}`);
}

test('a developer opens a shell, runs a command, reattaches after a reload, ends it and replays it', async () => {
  const { page, errors, context } = await signedIn('developer', '/shell');
  const staging = page.locator('#sh-env option', { hasText: 'Acme ERP · staging' });
  await page.selectOption('#sh-env', await staging.getAttribute('value'));
  // Production is offered only to sysadmins.
  assert.equal(await page.locator('#sh-env option', { hasText: 'Acme ERP · production' }).isDisabled(), true);
  await page.click('[data-testid=open-shell]');
  await page.locator('[data-testid=shell-status]', { hasText: 'live' }).waitFor({ timeout: 20000 });
  await page.locator('[data-testid=terminal]').click();
  await page.keyboard.type('echo e2e-$((20+22)) from $ODOOOPS_ENVIRONMENT');
  await page.keyboard.press('Enter');
  await waitForScreen(page, 'e2e-42 from staging');
  await shot(page, 'shell-live');

  // A reload drops the WebSocket: the page reattaches to the same shell and replays its output.
  await page.reload();
  await hydrated(page);
  await page.locator('[data-testid=shell-status]', { hasText: 'live' }).waitFor({ timeout: 20000 });
  await waitForScreen(page, 'e2e-42 from staging');
  await page.locator('[data-testid=terminal]').click();
  await page.keyboard.type('echo still-$((1+1))');
  await page.keyboard.press('Enter');
  await waitForScreen(page, 'still-2');

  await page.click('[data-testid=end-session]');
  await page.locator('[data-testid=shell-status]', { hasText: 'closed by user' }).waitFor({ timeout: 15000 });

  // The session is listed; its replay plays the transcript back.
  await page.reload();
  await hydrated(page);
  const row = page.locator('[data-testid=shell-session-row]').first();
  await row.locator('text=closed by user').waitFor();
  await row.locator('[data-testid=replay-link]').click();
  await page.waitForURL(/\/shell\/sessions\//);
  await hydrated(page);
  const replay = page.locator('[data-testid=replay]');
  await page.waitForFunction(() => document.querySelector('[data-testid=replay]')?.dataset.state === 'ready', null, { timeout: 15000 });
  await replay.locator('select').selectOption('16');
  await replay.locator('[data-testid=replay-play]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=replay]')?.dataset.state === 'done', null, { timeout: 30000 });
  const replayed = await replay.locator('.xterm-rows').innerText();
  assert.ok(replayed.includes('e2e-42 from staging') && replayed.includes('still-2'), replayed);
  await shot(page, 'shell-replay');
  noErrors(errors);
  await context.close();
});

test('testers get no web shell and sysadmins may open one on production', async () => {
  const tester = await signedIn('tester', '/shell');
  assert.equal(await tester.page.locator('[data-testid=main-nav] >> text=Web shell').count(), 0);
  await tester.page.locator('[data-testid=forbidden]').waitFor();
  await tester.context.close();

  const sys = await signedIn('sysadmin', '/shell');
  assert.equal(await sys.page.locator('#sh-env option', { hasText: 'Acme ERP · production' }).isDisabled(), false);
  noErrors(sys.errors);
  await sys.context.close();
});

test('a user adds an SSH key in the profile, is told about a bad one, and removes it', async () => {
  const { page, errors, context } = await signedIn('pm', '/profile');
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICGIX4SudnbXp5tX81lTA1Vlc9XTimzcz9s7cG6G6WTg pm@laptop';
  await page.fill('#k-key', 'ssh-rsa AAAAB3NzaC1yc2E broken');
  await page.click('text=Add key');
  await page.locator('[data-testid=form-error]').waitFor();
  await page.fill('#k-key', key);
  await page.click('text=Add key');
  await page.locator('[data-testid=ssh-key-row]', { hasText: 'SHA256:b7licMHsHYkcxekffUt2YiQOz3pnNM/MPPvfHo7fVeY' }).waitFor();
  assert.ok((await page.locator('[data-testid=ssh-key-row]').first().innerText()).includes('pm@laptop'));
  await shot(page, 'profile-keys');
  await page.locator('[data-testid=remove-key]').first().click();
  await page.locator('[data-testid=empty-state]').waitFor();
  noErrors(errors.filter((e) => !/status of 409/.test(e)));
  await context.close();
});
