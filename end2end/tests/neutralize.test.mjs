// Neutralization rules: an admin opens the rules of acme-erp, sees the defaults, switches one
// off and on again, is told clearly when a pattern is not a valid regular expression, adds a
// pattern rule and deletes it again. A developer reads the same rules without the controls.
// No run has happened in the demo yet, so the runs list shows its empty state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

const PATH = '/projects/acme-erp/neutralization';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signedIn(role) {
  const ctx = await newPage(browser);
  await signIn(ctx.page, role);
  await ctx.page.waitForURL(`${BASE}/`);
  await ctx.page.goto(`${BASE}${PATH}`);
  await hydrated(ctx.page);
  return ctx;
}

const row = (page, name) => page.locator(`[data-testid=rule-row][data-rule="${name}"]`);

test('an admin toggles a default rule, gets a clear regex error and adds a pattern rule', async () => {
  const { context, page, errors } = await signedIn('admin');
  const rows = page.locator('[data-testid=rule-row]');
  assert.ok((await rows.count()) >= 20, 'the default rules are listed');
  for (const name of ['Scheduled jobs off', 'Outgoing mail to the catcher', 'Payment providers disabled', 'IAP account tokens', 'Secret columns anywhere']) {
    assert.equal(await row(page, name).count(), 1, `${name} is a default rule`);
  }
  assert.match(await row(page, 'Outgoing mail to the catcher').locator('[data-testid=rule-summary]').textContent(), /smtp_host = \{\{mail_host\}\}/);
  // Reports of earlier runs (a restore to staging in the backups tests neutralizes), or the
  // empty state on a console where none has run yet.
  await page.locator('[data-testid=runs], [data-testid=empty-state]').first().waitFor();
  if ((await page.locator('[data-testid=run]').count()) === 0) {
    assert.match(await page.locator('[data-testid=empty-state]').textContent(), /No neutralization has run yet/);
  } else {
    assert.match(await page.locator('[data-testid=run]').first().getAttribute('data-status'), /^(succeeded|failed|running)$/);
  }

  // Off, then on again, with the keyboard.
  const cron = row(page, 'Scheduled jobs off');
  const toggle = cron.locator('[data-testid=rule-toggle]');
  assert.equal(await toggle.getAttribute('aria-checked'), 'true');
  await toggle.focus();
  await page.keyboard.press('Space');
  await page.waitForSelector('[data-testid=rule-row][data-rule="Scheduled jobs off"][data-enabled=false]');
  assert.equal(await cron.locator('[data-testid=rule-toggle]').getAttribute('aria-checked'), 'false');
  await shot(page, 'neutralize-rule-off');
  await page.reload();
  await hydrated(page);
  assert.equal(await cron.getAttribute('data-enabled'), 'false', 'the change is stored');
  await cron.locator('[data-testid=rule-toggle]').click();
  await page.waitForSelector('[data-testid=rule-row][data-rule="Scheduled jobs off"][data-enabled=true]');

  // A pattern that is not a regular expression is refused, and says why.
  const name = `Vendor tokens ${randomUUID().slice(0, 8)}`;
  await page.fill('#rule-name', name);
  await page.selectOption('#rule-kind', 'column_pattern');
  assert.equal(await page.locator('#rule-set').isVisible(), false, 'a pattern rule has no assignments');
  await page.fill('#rule-pattern', '(^|_)vendor_(token');
  await page.fill('#rule-exclude', 'res_users.vendor_token_hint');
  await page.fill('#rule-description', 'Tokens of our vendor integration.');
  await page.click('[data-testid=rule-submit]');
  const message = page.locator('[data-testid=rule-form-message]');
  await page.waitForFunction(() => /not a valid regular expression/.test(document.querySelector('[data-testid=rule-form-message]')?.textContent ?? ''));
  assert.match(await message.textContent(), /Column pattern: not a valid regular expression \(.*parenthes/);
  assert.equal(await row(page, name).count(), 0);
  await shot(page, 'neutralize-bad-regex');

  // Fixed, it is added at the end and the form is ready for the next one.
  await page.fill('#rule-pattern', '(^|_)vendor_token$');
  await page.press('#rule-pattern', 'Enter');
  await page.waitForSelector(`[data-testid=rule-row][data-rule="${name}"]`);
  assert.match(await message.textContent(), /added/);
  assert.equal(await page.inputValue('#rule-name'), '');
  assert.match(await row(page, name).locator('[data-testid=rule-summary]').textContent(), /blank columns ~\* \(\^\|_\)vendor_token\$ in any table, except res_users\.vendor_token_hint/);
  assert.equal(await rows.last().getAttribute('data-rule'), name);
  assert.equal(await row(page, 'Scheduled jobs off').locator('[data-testid=rule-delete]').count(), 0, 'built-in rules cannot be deleted');
  await shot(page, 'neutralize-rules');

  // Edit loads the rule into the form; saving changes it in place.
  await row(page, name).locator('[data-testid=rule-edit]').click();
  assert.equal(await page.inputValue('#rule-name'), name);
  assert.equal(await page.inputValue('#rule-pattern'), '(^|_)vendor_token$');
  await page.fill('#rule-description', 'Tokens of our vendor integration (v2 API).');
  await page.click('[data-testid=rule-submit]');
  await page.waitForFunction(() => /saved/.test(document.querySelector('[data-testid=rule-form-message]')?.textContent ?? ''));
  await page.waitForFunction((n) => /v2 API/.test(document.querySelector(`[data-testid=rule-row][data-rule="${n}"]`)?.textContent ?? ''), name);
  assert.equal(await page.inputValue('#rule-name'), '', 'the form is back to adding');

  await row(page, name).locator('[data-testid=rule-delete]').click();
  await page.waitForFunction((n) => !document.querySelector(`[data-testid=rule-row][data-rule="${n}"]`), name);
  noErrors(errors);
  await context.close();
});

test('a developer reads the rules without controls', async () => {
  const { context, page, errors } = await signedIn('developer');
  assert.ok((await page.locator('[data-testid=rule-row]').count()) >= 20);
  assert.equal(await page.locator('[data-testid=rule-toggle]').count(), 0);
  assert.equal(await page.locator('[data-testid=rule-editor]').count(), 0);
  assert.equal(await page.locator('[data-testid=rule-row][data-rule="Scheduled jobs off"] [data-testid=rule-state]').textContent(), 'on');
  noErrors(errors);
  await context.close();
});
