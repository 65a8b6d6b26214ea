// Mail catcher: a developer opens the staging inbox, reads its SMTP credentials from the
// settings panel, and an app (this test, speaking SMTP over a socket) sends mail with it.
// The mail shows up in the open page without a reload, its HTML renders in a sandboxed
// frame, and the .eml download is byte-for-byte what was sent. Testers read mail but never
// see the SMTP password; production mail is never captured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { launch, newPage, signIn, shot, noErrors, hydrated, BASE } from './helpers.mjs';

const SMTP_ADDR = process.env.ODOOOPS_SMTP_ADDR ?? '127.0.0.1:1025';
const PROJECT = 'acme-erp';

let browser;
let staging; // { path, username, password } once the developer has read them
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

/** Opens the settings panel (it starts closed once an inbox has mail). */
async function openSettings(page) {
  const settings = page.locator('[data-testid=mail-settings]');
  if (!(await settings.evaluate((d) => d.open))) await settings.locator('summary').click();
}

/** Where to connect: ODOOOPS_SMTP_ADDR, or the port the settings panel shows when it is 0. */
async function smtpTarget(page) {
  const i = SMTP_ADDR.lastIndexOf(':');
  const host = SMTP_ADDR.slice(0, i) || '127.0.0.1';
  let port = Number(SMTP_ADDR.slice(i + 1));
  if (!port) port = Number((await page.locator('[data-testid=smtp-port]').textContent()).trim());
  return { host: host === '0.0.0.0' ? '127.0.0.1' : host, port };
}

/**
 * A minimal SMTP client: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT, checking every reply
 * code. `data` is the message as bytes (CRLF line ends); it is dot-stuffed on the wire.
 */
async function smtpSend({ host, port, user, pass, from, to, data }) {
  const socket = net.connect({ host, port });
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let buffered = '';
  const waiting = [];
  const replies = [];
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1');
    let end;
    // A reply ends with a line "ddd text" (a hyphen after the code means more lines follow).
    while ((end = buffered.search(/^\d{3}(?: [^\r\n]*)?\r\n/m)) !== -1) {
      const lineEnd = buffered.indexOf('\r\n', end) + 2;
      const text = buffered.slice(0, lineEnd);
      buffered = buffered.slice(lineEnd);
      const reply = { code: Number(text.slice(end, end + 3)), text: text.trim() };
      if (waiting.length) waiting.shift()(reply); else replies.push(reply);
    }
  });
  const next = () => new Promise((resolve, reject) => {
    if (replies.length) return resolve(replies.shift());
    const timer = setTimeout(() => reject(new Error('no SMTP reply within 10 s')), 10000);
    waiting.push((r) => { clearTimeout(timer); resolve(r); });
  });
  const expect = async (code, what) => {
    const r = await next();
    assert.equal(r.code, code, `${what}: expected ${code}, got “${r.text}”`);
    return r;
  };
  const send = async (line, code) => { socket.write(`${line}\r\n`); return expect(code, line.split(' ')[0]); };
  try {
    await expect(220, 'greeting');
    await send('EHLO e2e.test', 250);
    await send(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`, 235);
    await send(`MAIL FROM:<${from}>`, 250);
    for (const rcpt of to) await send(`RCPT TO:<${rcpt}>`, 250);
    await send('DATA', 354);
    const stuffed = Buffer.from(data.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
    socket.write(Buffer.concat([stuffed, Buffer.from('.\r\n')]));
    const accepted = await expect(250, 'end of DATA');
    await send('QUIT', 221);
    return accepted.text;
  } finally {
    socket.destroy();
  }
}

/** A multipart message: text and HTML alternatives plus one attachment. */
function richMessage(marker) {
  const boundary = `mixed-${marker}`;
  const alt = `alt-${marker}`;
  const attachment = Buffer.from(`order,amount\n${marker},42.00\n`);
  const lines = [
    'From: Acme ERP <noreply@acme-erp.test>',
    'To: Jane Customer <jane@customer.example>',
    'Cc: accounting@acme-erp.test',
    `Subject: Invoice ${marker}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${marker}@e2e.test>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    `Content-Type: multipart/alternative; boundary="${alt}"`,
    '',
    `--${alt}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Hello Jane, your invoice ${marker} is attached.`,
    '.a line that starts with a dot (it is dot-stuffed on the wire)',
    '',
    `--${alt}`,
    'Content-Type: text/html; charset=utf-8',
    '',
    `<html><body><h1 id="greeting">Hello Jane</h1><p id="marker">Invoice ${marker}</p></body></html>`,
    '',
    `--${alt}--`,
    '',
    `--${boundary}`,
    `Content-Type: text/csv; name="invoice-${marker}.csv"`,
    `Content-Disposition: attachment; filename="invoice-${marker}.csv"`,
    'Content-Transfer-Encoding: base64',
    '',
    attachment.toString('base64'),
    '',
    `--${boundary}--`,
    '',
  ];
  return { data: Buffer.from(lines.join('\r\n')), attachment };
}

function plainMessage(marker) {
  return Buffer.from([
    'From: Acme ERP <noreply@acme-erp.test>',
    'To: jane@customer.example',
    `Subject: Password reset ${marker}`,
    `Message-ID: <reset-${marker}@e2e.test>`,
    '',
    `Use this link within one hour: https://acme.example/reset?t=${marker}`,
    '',
  ].join('\r\n'));
}

test('the mail overview has a card per environment and says production mail is never captured', async () => {
  const { context, page, errors } = await signedIn('developer', `/projects/${PROJECT}`);
  await page.click('[data-testid=open-mail]');
  await page.waitForURL(`${BASE}/projects/${PROJECT}/mail`);
  await hydrated(page);
  await page.locator('[data-testid=inbox-card][data-env=production]').waitFor();
  const envs = await page.locator('[data-testid=inbox-card]').evaluateAll((els) => els.map((e) => e.dataset.env));
  assert.deepEqual([...envs].sort(), ['development', 'production', 'staging']);
  const production = page.locator('[data-testid=inbox-card][data-env=production]');
  assert.match(await production.textContent(), /Production mail is never captured/);
  noErrors(errors);
  await context.close();
});

test('mail sent over SMTP with the inbox credentials appears live, renders sandboxed and downloads unchanged', async () => {
  const { context, page, errors } = await signedIn('developer', `/projects/${PROJECT}/mail`);
  await page.click('[data-testid=inbox-card][data-env=staging] [data-testid=open-inbox]');
  await page.waitForURL(/\/mail\/[0-9a-f-]{36}$/);
  await hydrated(page);
  await page.locator('[data-testid=live-status][data-status=live]').waitFor({ timeout: 15000 });

  // The credentials, as a developer reads them from the settings panel.
  await openSettings(page);
  const username = (await page.locator('[data-testid=smtp-username]').textContent()).trim();
  assert.match(await page.locator('[data-testid=smtp-password]').textContent(), /^•+$/, 'masked until shown');
  await page.click('[data-testid=show-password]');
  const password = (await page.locator('[data-testid=smtp-password]').textContent()).trim();
  assert.match(username, /^acme-erp-staging-[0-9a-f]+$/);
  assert.ok(password.length >= 16 && !password.includes('•'), password);
  assert.ok((await page.locator('[data-testid=odoo-sample]').textContent()).includes(`smtp_user = ${username}`));
  staging = { path: new URL(page.url()).pathname, username, password };
  const smtp = await smtpTarget(page);

  // Sent while the page is open: it must appear without a reload.
  await page.evaluate(() => { window.__sameDocument = true; });
  const marker = `e2e-${randomUUID().slice(0, 8)}`;
  await smtpSend({ ...smtp, user: username, pass: password, from: 'noreply@acme-erp.test', to: ['jane@customer.example'], data: plainMessage(marker) });
  const { data, attachment } = richMessage(marker);
  const reply = await smtpSend({ ...smtp, user: username, pass: password, from: 'noreply@acme-erp.test', to: ['jane@customer.example', 'accounting@acme-erp.test'], data });
  assert.match(reply, /^250/);
  const row = page.locator('[data-testid=message-row]', { hasText: `Invoice ${marker}` });
  await row.waitFor({ timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the list updated without a reload');
  const rows = page.locator('[data-testid=message-row]');
  assert.match(await rows.nth(0).textContent(), new RegExp(`Invoice ${marker}`), 'newest first');
  assert.match(await rows.nth(1).textContent(), new RegExp(`Password reset ${marker}`));
  assert.equal(await row.locator('[data-testid=row-attachments]').isVisible(), true, 'paperclip');

  // The message view: headers, and the HTML in a frame that can run nothing.
  await row.click();
  await page.locator('[data-testid=message-view]').waitFor();
  assert.equal(await row.getAttribute('data-selected'), 'true');
  assert.match(await page.locator('[data-testid=message-subject]').textContent(), new RegExp(`Invoice ${marker}`));
  assert.match(await page.locator('[data-testid=message-cc]').textContent(), /accounting@acme-erp\.test/);
  const frame = page.locator('[data-testid=html-frame]');
  assert.equal(await frame.getAttribute('sandbox'), '', 'sandboxed with no permissions');
  await page.frameLocator('[data-testid=html-frame]').locator('#marker').waitFor();
  assert.equal(await page.frameLocator('[data-testid=html-frame]').locator('#marker').textContent(), `Invoice ${marker}`);
  await page.click('[data-testid=tab-text]');
  assert.match(await page.locator('[data-testid=text-body]').textContent(), /^\.a line that starts with a dot/m);
  await page.click('[data-testid=tab-headers]');
  assert.match(await page.locator('[data-testid=headers-table]').textContent(), new RegExp(`<${marker}@e2e\\.test>`));
  await page.click('[data-testid=tab-html]');
  await shot(page, 'mail-message');

  // Downloads: the .eml is exactly the bytes sent; the attachment comes back decoded.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download-eml]')]);
  assert.ok(readFileSync(await download.path()).equals(data), 'the .eml is byte-identical to what was sent');
  const link = page.locator('[data-testid=attachment-link]', { hasText: `invoice-${marker}.csv` });
  const res = await context.request.get(`${BASE}${await link.getAttribute('href')}`);
  assert.equal(res.status(), 200);
  assert.ok((await res.body()).equals(attachment));

  // j and k move through the list; a mail without HTML opens on its text.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press('j');
  const second = rows.nth(1);
  await page.waitForFunction((id) => new URL(location.href).searchParams.get('m') === id, await second.getAttribute('data-id'));
  assert.equal(await second.getAttribute('data-selected'), 'true');
  await page.locator(`[data-testid=message-view][data-id="${await second.getAttribute('data-id')}"]`).waitFor();
  assert.equal(await page.locator('[data-testid=tab-html]').isDisabled(), true);
  assert.match(await page.locator('[data-testid=text-body]').textContent(), new RegExp(`reset\\?t=${marker}`));
  await page.keyboard.press('k');
  await page.waitForFunction((id) => new URL(location.href).searchParams.get('m') === id, await rows.nth(0).getAttribute('data-id'));

  // Search narrows the list (and lives in the URL).
  await page.fill('[data-testid=mail-search-input]', `Password reset ${marker}`);
  await page.keyboard.press('Enter');
  await page.waitForURL(/[?&]q=/);
  await page.locator('[data-testid=message-row]', { hasText: `Invoice ${marker}` }).waitFor({ state: 'detached' });
  assert.equal(await page.locator('[data-testid=message-row]').count(), 1);
  await page.goto(`${BASE}${staging.path}`);
  await hydrated(page);
  await shot(page, 'mail-inbox');
  noErrors(errors);
  await context.close();
});

test('retention errors from the server are shown next to the form', async () => {
  assert.ok(staging, 'the SMTP test ran first');
  const { context, page, errors } = await signedIn('developer', staging.path);
  await openSettings(page);
  const before = await page.locator('[data-testid=max-messages]').inputValue();
  await page.fill('[data-testid=max-messages]', '0');
  await page.locator('[data-testid=max-messages]').press('Enter');
  await page.locator('[data-testid=retention-outcome]', { hasText: 'whole number from 1 to 100000' }).waitFor();
  await page.fill('[data-testid=max-messages]', before);
  await page.locator('[data-testid=max-age-days]').press('Enter');
  await page.locator('[data-testid=retention-outcome]', { hasText: 'Saved' }).waitFor();
  noErrors(errors);
  await context.close();
});

test('a tester reads the inbox but never sees the SMTP password, and cannot delete or clear', async () => {
  assert.ok(staging, 'the SMTP test ran first');
  const { context, page, errors } = await signedIn('tester', staging.path);
  await page.locator('[data-testid=message-row]').first().waitFor();
  await openSettings(page);
  assert.equal((await page.locator('[data-testid=smtp-username]').textContent()).trim(), staging.username);
  assert.equal(await page.locator('[data-testid=smtp-password]').count(), 0);
  assert.equal(await page.locator('[data-testid=password-hidden]').isVisible(), true);
  assert.ok(!(await page.content()).includes(staging.password), 'the password is nowhere in the page');
  const html = await (await context.request.get(`${BASE}${staging.path}`)).text();
  assert.ok(!html.includes(staging.password), 'nor in the server-rendered HTML');
  await page.locator('[data-testid=message-row]').first().click();
  await page.locator('[data-testid=message-view]').waitFor();
  assert.equal(await page.locator('[data-testid=delete-message]').isVisible(), false);
  assert.equal(await page.locator('[data-testid=clear-inbox]').count(), 0);
  noErrors(errors);
  await context.close();
});

test('a developer deletes a message; the next one opens and the list follows', async () => {
  assert.ok(staging, 'the SMTP test ran first');
  const { context, page, errors } = await signedIn('developer', staging.path);
  const rows = page.locator('[data-testid=message-row]');
  await rows.nth(1).waitFor();
  const [id, next] = [await rows.nth(0).getAttribute('data-id'), await rows.nth(1).getAttribute('data-id')];
  const total = await rows.count();
  await rows.nth(0).click();
  await page.locator(`[data-testid=message-view][data-id="${id}"]`).waitFor();
  await page.click('[data-testid=delete-message]');
  await page.locator(`[data-testid=message-row][data-id="${id}"]`).waitFor({ state: 'detached' });
  // The next message is selected, and the list is one shorter.
  await page.locator(`[data-testid=message-view][data-id="${next}"]`).waitFor();
  assert.equal(new URL(page.url()).searchParams.get('m'), next);
  assert.equal(await rows.count(), total - 1);
  noErrors(errors);
  await context.close();
});
