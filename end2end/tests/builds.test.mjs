// Builds: a signed push webhook for the demo's local git repository produces a build on
// the grid (live, no reload), its log streams into the open page while it runs, it
// succeeds and its preview URL serves the app. Plus the failing build, a bad signature,
// the tester's read-only view, and the log viewer's CSV export.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

const DATA_DIR = process.env.ODOOOPS_DATA_DIR;
const REPO = DATA_DIR ? join(DATA_DIR, 'demo-repos', 'acme-erp') : null;

let browser;
let webhook; // { url, secret }
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signedIn(role, path) {
  const ctx = await newPage(browser);
  await signIn(ctx.page, role);
  await ctx.page.waitForURL(`${BASE}/`);
  if (path) {
    await ctx.page.goto(`${BASE}${path}`);
  }
  await hydrated(ctx.page);
  return ctx;
}

function git(...args) {
  return execFileSync('git', ['-C', REPO, ...args], {
    env: { ...process.env, GIT_AUTHOR_NAME: 'E2E', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'E2E', GIT_COMMITTER_EMAIL: 'e2e@example.com' },
  }).toString().trim();
}

function sign(secret, body) {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

async function deliver(event, payload, { secret = webhook.secret, guid = randomUUID() } = {}) {
  const body = JSON.stringify(payload);
  return fetch(webhook.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': guid, 'x-hub-signature-256': sign(secret, body) },
    body,
  });
}

test('an admin sets the webhook secret on the webhooks page', async () => {
  const { context, page, errors } = await signedIn('admin', '/projects/acme-erp/webhooks');
  const url = (await page.locator('[data-testid=webhook-url]').textContent()).trim();
  assert.match(url, /\/api\/webhooks\/github\/[0-9a-f-]{36}$/);
  await page.click('[data-testid=rotate-secret]');
  const secret = (await page.locator('[data-testid=new-secret] code').textContent()).trim();
  assert.match(secret, /^[0-9a-f]{48}$/);
  webhook = { url: `${BASE}${new URL(url, BASE).pathname}`, secret };
  await shot(page, 'webhooks');
  noErrors(errors);
  await context.close();
});

test('a pushed commit appears on the grid, its log streams live, it succeeds and its preview serves the app', { skip: !REPO }, async () => {
  assert.ok(webhook, 'the webhook test ran first');
  const branch = `e2e/live-${Date.now()}`;
  const marker = `e2e-marker-${randomUUID().slice(0, 8)}`;
  git('checkout', '-q', 'main');
  git('checkout', '-q', '-b', branch);
  writeFileSync(join(REPO, '.odooops.toml'), [
    '[[steps]]', 'name = "install"', 'run = "echo installing"',
    '[[steps]]', 'name = "test"',
    'run = "for i in 1 2 3 4 5 6 7 8; do echo \\"streamed line $i\\"; sleep 1; done"',
    'timeout_seconds = 120',
    '[start]', 'run = "python3 -m http.server $PORT --bind 127.0.0.1"', 'ready_timeout_seconds = 30', '',
  ].join('\n'));
  writeFileSync(join(REPO, 'index.html'), `<!doctype html><h1>${marker}</h1>\n`);
  git('add', '-A');
  git('commit', '-q', '-m', `e2e: live build ${marker}`);
  const sha = git('rev-parse', 'HEAD');
  git('checkout', '-q', 'main');

  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/builds');
  await page.locator('[data-testid=build-grid]').waitFor();
  const res = await deliver('push', {
    ref: `refs/heads/${branch}`, after: sha, deleted: false,
    head_commit: { id: sha, message: `e2e: live build ${marker}`, author: { name: 'E2E', username: 'e2e' } },
    repository: { full_name: 'acme/acme-erp' },
  });
  assert.equal(res.status, 202, await res.text());

  // The new branch shows up without a reload (the grid listens for build events).
  const card = page.locator(`[data-branch="${branch}"] [data-testid=build-card]`).first();
  await card.waitFor({ timeout: 20000 });
  await shot(page, 'build-grid');
  await card.click();
  await page.waitForURL(/\/builds\/[0-9a-f-]{36}$/);
  await hydrated(page);
  await page.locator('[data-testid=tail-status][data-status=live]').waitFor({ timeout: 15000 });

  // Lines arrive while the step is still running.
  await page.locator('[data-testid=log-line]', { hasText: 'streamed line 2' }).waitFor({ timeout: 40000 });
  assert.equal(await page.locator('[data-testid=log-line]', { hasText: 'streamed line 8' }).count(), 0, 'line 8 should not exist yet');
  await page.locator('[data-testid=log-line]', { hasText: 'streamed line 8' }).waitFor({ timeout: 30000 });
  await page.locator('[data-testid=build-state][data-state=success]').first().waitFor({ timeout: 30000 });
  await shot(page, 'build-page');

  // The preview: the build page offers it once it is up; it serves the commit's page.
  const preview = page.locator('[data-testid=open-preview][data-shown=true]');
  for (let i = 0; i < 40 && (await preview.count()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.reload();
    await hydrated(page);
  }
  const href = await preview.getAttribute('href');
  assert.match(href, /^\/preview\/[a-z0-9-]+\/$/);
  const served = await context.request.get(`${BASE}${href}`);
  assert.equal(served.status(), 200);
  assert.ok((await served.text()).includes(marker), 'the preview serves the commit');
  assert.equal(served.headers()['x-odooops-preview'], href.split('/')[2]);
  noErrors(errors);
  await context.close();
});

test('a webhook with a bad signature gets 401, builds nothing, and shows as invalid', async () => {
  assert.ok(webhook, 'the webhook test ran first');
  const guid = randomUUID();
  const res = await deliver('push', { ref: 'refs/heads/main', after: 'a'.repeat(40) }, { secret: 'not-the-secret', guid });
  assert.equal(res.status, 401);
  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/webhooks');
  const row = page.locator('[data-testid=delivery-row]', { hasText: guid });
  await row.waitFor();
  assert.equal(await row.getAttribute('data-outcome'), 'rejected');
  assert.ok((await row.textContent()).includes('invalid'));
  noErrors(errors);
  await context.close();
});

test('a failing build is red on the grid and its page shows the failing step and its log', async () => {
  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/builds');
  const card = page.locator('[data-branch="feature/invoice-layout"] [data-testid=build-card]').first();
  await card.waitFor();
  // The demo queues this build at start-up; it may still be running.
  for (let i = 0; i < 60 && (await card.getAttribute('data-state')) !== 'failed'; i++) await page.waitForTimeout(1000);
  assert.equal(await card.getAttribute('data-state'), 'failed');
  assert.match(await card.getAttribute('class'), /border-l-rose-500/);
  await card.click();
  await page.waitForURL(/\/builds\//);
  await hydrated(page);
  assert.match(await page.locator('[data-testid=build-error]').textContent(), /test/);
  await page.locator('[data-testid=log-line][data-level=error]', { hasText: 'expected 10.0' }).waitFor();
  await shot(page, 'build-failed');
  noErrors(errors);
  await context.close();
});

test('a tester sees the grid and logs but no rebuild or cancel buttons', async () => {
  const { context, page, errors } = await signedIn('tester', '/projects/acme-erp/builds');
  const card = page.locator('[data-branch=main] [data-testid=build-card]').first();
  await card.click();
  await page.waitForURL(/\/builds\//);
  await hydrated(page);
  await page.locator('[data-testid=log-viewer]').waitFor();
  assert.equal(await page.locator('[data-testid=rebuild][data-shown=true], [data-testid=cancel-build][data-shown=true]').count(), 0);
  assert.equal(await page.locator('[data-testid=rebuild]:visible, [data-testid=cancel-build]:visible').count(), 0);
  noErrors(errors);
  await context.close();
});

test('the log viewer filters by build and level, and the CSV export has exactly the filtered lines', async () => {
  const { context, page, errors } = await signedIn('developer', '/projects/acme-erp/builds');
  const card = page.locator('[data-branch="feature/invoice-layout"] [data-testid=build-card]').first();
  const buildId = await card.getAttribute('data-build-id');
  await page.goto(`${BASE}/logs?build=${buildId}&level=info`);
  await hydrated(page);
  await page.locator('[data-testid=log-line]').first().waitFor();
  const levels = await page.locator('[data-testid=log-line]').evaluateAll((els) => els.map((e) => e.dataset.level));
  assert.ok(levels.length > 0 && levels.every((l) => l === 'info' || l === 'warning' || l === 'error'), levels.join(','));
  const shown = await page.locator('[data-testid=log-line]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
  await shot(page, 'logs');

  const href = await page.locator('[data-testid=export-csv]').getAttribute('href');
  const csv = await context.request.get(`${BASE}${href}`);
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /text\/csv/);
  const ids = parseCsv(await csv.text()).slice(1).map((r) => Number(r[0]));
  assert.deepEqual(ids, shown, 'the CSV holds the same lines, in the same order');

  // The level filter through the form.
  await page.selectOption('#level', 'error');
  await page.click('[data-testid=apply-filters]');
  await page.waitForURL(/level=error/);
  await hydrated(page);
  await page.locator('[data-testid=log-line]').first().waitFor();
  const errorsOnly = await page.locator('[data-testid=log-line]').evaluateAll((els) => els.map((e) => e.dataset.level));
  assert.ok(errorsOnly.every((l) => l === 'error'), errorsOnly.join(','));
  noErrors(errors);
  await context.close();
});

/** RFC 4180 rows (quoted fields may hold commas, quotes and newlines). */
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}
