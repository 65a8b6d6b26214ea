// Shared set-up for browser tests: Debian Chromium through playwright-core, a page that
// fails the test on any JavaScript error, and sign-in helpers for the demo users.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';

export const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
export const PASSWORD = process.env.ODOOOPS_DEMO_PASSWORD ?? 'demo-password-123';
export const ROLES = ['admin', 'sysadmin', 'developer', 'tester', 'pm'];
export const email = (role) => `${role}@demo.example.com`;
const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh context and page; `errors` collects page errors and console errors. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A 401/403/404 the test provokes on purpose is logged by Chromium as a failed resource.
    if (m.type() === 'error' && !/status of (401|403|404|422|429)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return { context, page, errors };
}

/** Waits until the WASM bundle has hydrated the page (forms then submit through fetch). */
export async function hydrated(page) {
  // 30 s: the first pages load while the demo's builds keep both cores busy.
  await page.waitForFunction(() => document.body?.dataset.hydrated === 'true', null, { timeout: 30000 });
  // Pages with a live tail keep a connection open, so "network idle" may never come.
  await page.waitForLoadState('networkidle', { timeout: 3000 }).catch(() => {});
}

export async function signIn(page, role, password = PASSWORD, path = '/login') {
  await page.goto(`${BASE}${path}`);
  await hydrated(page);
  await page.fill('input[name=email]', email(role));
  await page.fill('input[name=password]', password);
  await page.click('[data-testid=login-submit]');
}

export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

export function noErrors(errors) {
  assert.deepEqual(errors, [], `JavaScript errors on the page:\n${errors.join('\n')}`);
}

/** A fresh page signed in as `role`, then at `path`, hydrated. */
export async function signedInAt(browser, role, path) {
  const ctx = await newPage(browser);
  await signIn(ctx.page, role);
  await ctx.page.waitForURL(`${BASE}/`);
  await ctx.page.goto(`${BASE}${path}`);
  await hydrated(ctx.page);
  return ctx;
}
