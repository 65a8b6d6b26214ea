// Audit chain: an admin verifies the workspace's audit hash chain from the audit log and sees
// it intact with its head hash. Then this test edits one record as the embedded cluster's
// superuser (trigger off, update, trigger on, as an attacker with database access would),
// verifies again and sees the chain broken at exactly that record; it puts the record back
// afterwards, and the chain is intact again. Testers and sysadmins are refused the check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE, email } from './helpers.mjs';

const DATA_DIR = process.env.ODOOOPS_DATA_DIR;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signedIn(role, path) {
  const ctx = await newPage(browser);
  await signIn(ctx.page, role);
  await ctx.page.waitForURL(`${BASE}/`);
  if (path) await ctx.page.goto(`${BASE}${path}`);
  await hydrated(ctx.page);
  return ctx;
}

/** Runs SQL as the embedded cluster's superuser (one transaction); returns psql's output. */
function superuserSql(sql) {
  const password = readFileSync(join(DATA_DIR, 'pg.password'), 'utf8').trim();
  const port = readFileSync(join(DATA_DIR, 'pg', 'postmaster.pid'), 'utf8').split('\n')[3].trim();
  const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', port, '-U', 'odooops', '-d', 'odooops',
    '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql], { env: { ...process.env, PGPASSWORD: password }, encoding: 'utf8' });
  assert.equal(r.status, 0, `psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Edits (or restores) the details of one audit record with the append-only trigger off. */
function rewrite(id, expr) {
  superuserSql(`alter table ops.audit_log disable trigger audit_log_append_only;
    update ops.audit_log set details = ${expr} where id = ${Number(id)};
    alter table ops.audit_log enable trigger audit_log_append_only;`);
}

/** Clicks "Verify" and waits for a new result (each carries its own check time). */
async function verify(page) {
  const checkedAt = () => document.querySelector('[data-testid=chain-result]')?.dataset.checkedAt ?? null;
  const previous = await page.evaluate(checkedAt);
  await page.click('[data-testid=verify-chain]');
  await page.waitForFunction((prev) => {
    const at = document.querySelector('[data-testid=chain-result]')?.dataset.checkedAt ?? null;
    return at !== null && at !== prev;
  }, previous, { timeout: 30000 });
  return (await page.locator('[data-testid=chain-status]').textContent()).trim();
}

test('an admin verifies the chain, sees it break after a superuser edit, and intact once restored', async (t) => {
  const { context, page, errors } = await signedIn('admin', '/audit');
  await page.click('[data-testid=audit-verify-link]');
  await page.waitForURL(`${BASE}/audit/verify`);
  await hydrated(page);
  assert.equal(await verify(page), 'intact');
  const head = (await page.locator('[data-testid=head-hash]').textContent()).trim();
  assert.match(head, /^[0-9a-f]{64}$/);
  assert.ok(Number(await page.locator('[data-testid=rows-checked]').textContent()) > 0);
  await page.getByText('a head hash you noted earlier proves they did not').waitFor();
  await shot(page, 'audit-chain-intact');

  if (!DATA_DIR) {
    t.diagnostic('ODOOOPS_DATA_DIR is unset: cannot reach the embedded cluster, so the tamper check is skipped');
    noErrors(errors);
    await context.close();
    return;
  }
  // The second record of the admin's tenant: old enough that nothing else writes near it.
  const victim = superuserSql(`select a.id from ops.audit_log a
      join ops.memberships m on m.tenant_id = a.tenant_id join ops.users u on u.id = m.user_id
     where u.email = '${email('admin')}' and a.seq = 2`);
  assert.match(victim, /^\d+$/, 'the tenant has at least two audit records');
  rewrite(victim, `details || '{"tampered": true}'`);
  try {
    assert.equal(await verify(page), 'broken');
    assert.equal((await page.locator('[data-testid=break-id]').textContent()).trim(), victim);
    assert.equal((await page.locator('[data-testid=break-seq]').textContent()).trim(), '2');
    assert.match(await page.locator('[data-testid=break-reason]').textContent(), /edited/);
    await shot(page, 'audit-chain-broken');
    // The link to the log shows the record first.
    const href = await page.locator('[data-testid=chain-break] a').getAttribute('href');
    assert.equal(href, `/audit?before=${Number(victim) + 1}`);
  } finally {
    rewrite(victim, `details - 'tampered'`);
  }
  assert.equal(await verify(page), 'intact', 'the original content hashes as before');
  noErrors(errors);
  await context.close();
});

test('testers and sysadmins are refused the check', async () => {
  for (const role of ['tester', 'sysadmin']) {
    const { context, page, errors } = await signedIn(role, '/audit/verify');
    await page.locator('[data-testid=forbidden]').waitFor();
    assert.equal(await page.locator('[data-testid=verify-chain]').count(), 0);
    noErrors(errors);
    await context.close();
  }
});
