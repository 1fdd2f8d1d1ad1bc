// The portal's journey in a real browser: Debian's chromium driven by playwright-core.
//
//   BASE_URL=http://127.0.0.1:8080 API_KEY=... ARTEFACTS=tests/artifacts/browser node tests/browser/portal.mjs
//
//   ... PYTHON=.venv/bin/python DBVEND_DATA=<the serve's data dir> node tests/browser/portal.mjs
//
// Follows the portal as the README describes it (engine/portal/): sign in, a refused request, a request that
// opens a change, the change merged through the REST API, the fleet and its filter, the database page and
// an extension (merged through the REST API), the Change form (a refusal, then a modification), the Connect
// section before and after the database is applied, then the same pages at a phone's size. The apply is
// recorded in the serve's ledger as `dbvend ci apply` records it, by tests/support/record_applied.py run
// with PYTHON (the serve's settings: DBVEND_DATA or DATABASE_URL). Prints one line per step, writes a
// screenshot per page into ARTEFACTS, and exits non-zero with a precise message at the first thing that is
// not as the contract says (failure.png then shows the page it was on). CHROMIUM overrides /usr/bin/chromium.

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

// --headless=new: no display here. --no-sandbox: we run as root, where chromium's sandbox refuses to
// start. --disable-gpu: no GPU. --disable-dev-shm-usage: shared memory in /tmp, as /dev/shm may be small.
const CHROMIUM_FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'];
const SCREENSHOTS = [
  'signin.png',
  'request-invalid.png',
  'status.png',
  'fleet.png',
  'database.png',
  'extended.png',
  'changed.png',
  'connect.png',
  'fleet-phone.png',
];

const STEP_TIMEOUT = 10_000; // any one locator or navigation
const STATUS_TIMEOUT = 60_000; // the request page reaching change_open by itself
const HOSTILE_NAME = '<script>alert(1)</script>';
const FINAL_STATUSES = ['rejected', 'failed', 'closed', 'destroyed'];
const RECORD_TIMEOUT = 30_000; // record_applied.py: a python start and one ledger transaction
const RECORD_APPLIED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/record_applied.py');
const BRANCH = 'dbvend/dev/orders'; // the request's change; a later one is BRANCH.<kind>
// What `dbvend ci apply` reads from the root's `connection` output (engine/connection.py): no password.
const CONNECTION = {
  engine: 'postgres',
  host: 'orders.abc123.eu-west-1.rds.amazonaws.com',
  port: 5432,
  database: 'orders',
  username: 'dbadmin',
  reader_host: null,
  proxy_host: null,
  master_secret_arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf',
  iam_auth: true,
};
const NOT_YET_CONNECTED = 'Connection details appear here once the database is applied.';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

const BASE_URL = required('BASE_URL').replace(/\/+$/, '');
const API_KEY = required('API_KEY');
const ARTEFACTS = required('ARTEFACTS');
const PYTHON = required('PYTHON');
required('DBVEND_DATA'); // read by record_applied.py, as the serve reads it
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';

const started = Date.now();
const problems = []; // dialogs, uncaught page errors and CSP violations: each fails the journey

function log(line) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

function expectEqual(actual, expected, what) {
  expect(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function pathOf(page) {
  const url = new URL(page.url());
  return url.pathname + url.search;
}

/** Watches a page for what must never happen: a dialog (an injected alert()), a script error, CSP refusals. */
function watch(page, label) {
  page.on('dialog', async (dialog) => {
    problems.push(`${label}: a dialog (${dialog.type()}) fired with ${JSON.stringify(dialog.message())}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`${label}: uncaught script error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      problems.push(`${label}: CSP violation: ${message.text()}`);
    }
  });
}

function noProblems(where) {
  expect(problems.length === 0, `${where}: ${problems.join('; ')}`);
}

/** Runs `action` (a click, a key press) and returns the final response of the navigation it causes, after
 * redirects, once the new document is committed and loaded. */
async function navigation(page, action) {
  const response = page.waitForResponse(
    (r) =>
      r.request().isNavigationRequest() &&
      r.frame() === page.mainFrame() &&
      !(r.status() >= 300 && r.status() < 400),
    { timeout: STEP_TIMEOUT },
  );
  const committed = page.waitForEvent('framenavigated', {
    predicate: (frame) => frame === page.mainFrame(),
    timeout: STEP_TIMEOUT,
  });
  await action();
  const [final] = await Promise.all([response, committed]);
  await page.waitForLoadState('load');
  return final;
}

async function open(page, route, status = 200) {
  const response = await page.goto(BASE_URL + route, { timeout: STEP_TIMEOUT });
  expect(response !== null, `GET ${route}: no response`);
  expectEqual(response.status(), status, `GET ${route} (ended at ${pathOf(page)}): HTTP status`);
  return response;
}

async function shot(page, name, options = {}) {
  await page.screenshot({ path: path.join(ARTEFACTS, name), ...options });
  return name;
}

/** The accessible input for a label, exactly as the contract names it: proves the label is wired. */
function field(page, label) {
  return page.getByLabel(label, { exact: true });
}

async function single(locator, what) {
  const count = await locator.count();
  expect(count === 1, `${what}: expected exactly one, found ${count}`);
  return locator;
}

async function rest(method, route) {
  const response = await fetch(BASE_URL + route, { method, headers: { 'x-api-key': API_KEY } });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the message
  }
  return { status: response.status, body };
}

/** The cells of the fleet row for `database`, by the fleet table's column headings. */
async function fleetRow(page, database) {
  const headings = (await page.locator('#fleet tr').first().locator('th').allInnerTexts()).map((h) => h.trim());
  const row = page.locator(`#fleet tr[data-database="${database}"]`);
  const count = await row.count();
  if (count === 0) return null;
  expectEqual(count, 1, `fleet rows for ${database}`);
  const cells = (await row.locator(':scope > th, :scope > td').allInnerTexts()).map((c) => c.trim());
  return Object.fromEntries(headings.map((heading, i) => [heading, cells[i]]));
}

async function filterFleet(page, environment) {
  await field(page, 'Environment').selectOption(environment);
  const response = await navigation(page, () =>
    page.getByRole('button', { name: 'Filter', exact: true }).click(),
  );
  expectEqual(response.status(), 200, 'fleet filtered by environment: HTTP status');
  const params = new URL(page.url()).searchParams;
  expectEqual(params.get('environment'), environment, `fleet filter's query (${pathOf(page)})`);
}

/** The open changes of dev/orders (its request's branch, or a later change's BRANCH.<kind>), by the REST API. */
async function openChanges() {
  const { status, body } = await rest('GET', '/v1/changes?status=open');
  expectEqual(status, 200, 'GET /v1/changes?status=open: HTTP status');
  expect(Array.isArray(body?.items), `GET /v1/changes?status=open: no items in ${JSON.stringify(body)}`);
  return body.items.filter((c) => c.branch === BRANCH || c.branch.startsWith(`${BRANCH}.`));
}

async function databaseAnswer() {
  const { status, body } = await rest('GET', '/v1/databases/dev/orders');
  expectEqual(status, 200, 'GET /v1/databases/dev/orders: HTTP status');
  return body;
}

/** What `dbvend ci apply` records for an applied root: its connection details, then the move to applied,
 * in one transaction of the serve's ledger (tests/support/record_applied.py). */
async function recordApplied(requestId) {
  const run = promisify(execFile);
  let done;
  try {
    done = await run(PYTHON, [RECORD_APPLIED, requestId, JSON.stringify(CONNECTION)], {
      env: process.env,
      timeout: RECORD_TIMEOUT,
    });
  } catch (error) {
    throw new Error(`${PYTHON} ${RECORD_APPLIED} ${requestId}: ${error.message} ${error.stderr || ''}`.trim());
  }
  return JSON.parse(done.stdout);
}

/** The Connect section's facts, label → value. */
async function connectFacts(page) {
  return page.locator('#connect dl.facts').evaluate((dl) =>
    Object.fromEntries(
      [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent.trim(), dt.nextElementSibling?.textContent.trim()]),
    ),
  );
}

async function step(name, body) {
  const t0 = Date.now();
  try {
    await body();
  } catch (error) {
    error.message = `${name}: ${error.message}`;
    throw error;
  }
  log(`ok   ${name} (${Date.now() - t0} ms)`);
}

async function journey(browser, current) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  current.page = page;
  page.setDefaultTimeout(STEP_TIMEOUT);
  watch(page, 'desktop');
  let requestPath = '';
  let change = 0;
  let expiry = null;
  let extension = 0;

  await step('a portal page without a session goes to /signin?next=...', async () => {
    await open(page, '/fleet');
    const url = new URL(page.url());
    expectEqual(url.pathname, '/signin', 'GET /fleet without a session ended at');
    expectEqual(url.searchParams.get('next'), '/fleet', 'the sign-in page\'s "next"');
  });

  await step('sign in: a wrong key is refused with 401 and role=alert', async () => {
    await open(page, '/signin');
    await field(page, 'API key').fill('not-the-key');
    const response = await navigation(page, () =>
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    );
    expectEqual(response.status(), 401, 'POST /signin with a wrong key: HTTP status');
    const alert = page.getByRole('alert').filter({ hasText: 'That API key is not valid.' });
    await single(alert, 'role=alert "That API key is not valid."');
    await single(field(page, 'API key'), 'the form again after a wrong key: input labelled "API key"');
  });

  await step('sign in with the key, pressing Enter in the field → /fleet', async () => {
    await open(page, '/signin');
    const key = field(page, 'API key');
    await single(key, 'input labelled "API key"');
    expectEqual(await key.getAttribute('type'), 'password', '"API key" input type');
    expectEqual(await key.getAttribute('name'), 'api_key', '"API key" input name');
    await single(page.getByRole('button', { name: 'Sign in', exact: true }), 'button "Sign in"');
    await key.fill(API_KEY);
    await shot(page, 'signin.png');
    await key.focus();
    const response = await navigation(page, () => page.keyboard.press('Enter'));
    expectEqual(response.status(), 200, 'after signing in: HTTP status');
    expectEqual(new URL(page.url()).pathname, '/fleet', 'after signing in, the page');
    const cookie = (await context.cookies()).find((c) => c.name === 'dbvend_session');
    expect(cookie, 'no dbvend_session cookie after signing in');
    expect(cookie.httpOnly, 'the dbvend_session cookie is not HttpOnly');
    expectEqual(cookie.sameSite, 'Strict', 'the dbvend_session cookie\'s SameSite');
    const nav = page.getByRole('navigation');
    await nav.getByRole('link', { name: 'Request a database', exact: true }).waitFor();
    await nav.getByRole('link', { name: 'Fleet', exact: true }).waitFor();
    await nav.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  });

  await step('/ goes to /fleet; the request page has its CSP and a csrf field', async () => {
    await open(page, '/');
    expectEqual(new URL(page.url()).pathname, '/fleet', 'GET / ended at');
    const response = await open(page, '/request');
    const csp = (await response.allHeaders())['content-security-policy'] || '';
    // default-src 'self' as the contract says, or stricter: 'none' with 'self' per directive; nothing inline.
    const defaultSrc = /(?:^|;)\s*default-src ([^;]*)/.exec(csp)?.[1].trim();
    expect(
      ["'self'", "'none'"].includes(defaultSrc) && !/unsafe-|\*|https?:/.test(csp),
      `/request Content-Security-Policy is ${JSON.stringify(csp)}`,
    );
    const csrf = page.locator('form[method="post" i] input[type="hidden"][name="csrf"]');
    expect((await csrf.count()) >= 1, 'the request form has no hidden csrf field');
    expect(((await csrf.first().getAttribute('value')) || '').length > 0, 'the csrf field is empty');
  });

  await step('a refused request: 422, the field marked invalid with its rule, no script run', async () => {
    await field(page, 'Database name').fill(HOSTILE_NAME);
    await field(page, 'Database engine').selectOption('postgres');
    await field(page, 'Environment').selectOption('dev');
    const response = await navigation(page, () =>
      page.getByRole('button', { name: 'Request database', exact: true }).click(),
    );
    expectEqual(response.status(), 422, 'POST /request with a hostile name: HTTP status');
    const summary = page.getByRole('alert').filter({ hasText: 'The request was not accepted' });
    await single(summary, 'error summary role=alert "The request was not accepted"');
    const name = await single(field(page, 'Database name'), 'input labelled "Database name"');
    expectEqual(await name.getAttribute('aria-invalid'), 'true', '"Database name" aria-invalid');
    const describedBy = (await name.getAttribute('aria-describedby')) || '';
    expect(
      describedBy.split(/\s+/).includes('error-database_name'),
      `"Database name" aria-describedby is ${JSON.stringify(describedBy)}, not error-database_name`,
    );
    expectEqual(await name.inputValue(), HOSTILE_NAME, '"Database name" value kept after 422');
    const error = page.locator('p.field-error#error-database_name');
    await single(error, 'p.field-error#error-database_name');
    const errorText = (await error.innerText()).trim();
    expect(errorText.length > 0, 'the error next to "Database name" is empty');
    const api = await fetch(`${BASE_URL}/v1/databases`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ database_name: HOSTILE_NAME, database_engine: 'postgres', environment: 'dev' }),
    });
    expectEqual(api.status, 422, 'POST /v1/databases with the same request: HTTP status');
    const rules = (await api.json()).errors.filter((e) => e.field === 'database_name').map((e) => e.rule);
    expect(
      rules.some((rule) => errorText.includes(rule)),
      `the error next to "Database name" (${JSON.stringify(errorText)}) is not the API's rule ` +
        `${JSON.stringify(rules)}`,
    );
    await page.waitForTimeout(300); // give an injected handler the chance to fire
    noProblems('the refused request');
    const injected = await page.locator('script').evaluateAll((scripts) =>
      scripts.filter((s) => s.textContent.includes('alert(1)')).length,
    );
    expectEqual(injected, 0, 'script elements holding the submitted alert(1)');
    await shot(page, 'request-invalid.png', { fullPage: true });
  });

  await step('a valid request (Enter in "Team") → /requests/<id>', async () => {
    await field(page, 'Database name').fill('orders');
    await field(page, 'Database engine').selectOption('postgres');
    await field(page, 'Environment').selectOption('dev');
    await field(page, 'Time to live (TTL)').fill('3d');
    await field(page, 'Owner').fill('alice');
    const team = field(page, 'Team');
    await team.fill('data');
    await team.focus();
    const response = await navigation(page, () => page.keyboard.press('Enter'));
    expectEqual(response.status(), 200, 'after a valid request: HTTP status');
    requestPath = new URL(page.url()).pathname;
    expect(/^\/requests\/[^/]+$/.test(requestPath), `a valid request ended at ${pathOf(page)}`);
    const heading = (await page.getByRole('heading', { level: 1 }).innerText()).trim();
    expectEqual(heading, 'Request for dev/orders', 'the status page\'s h1');
    const live = await single(page.locator('#live'), '#live region');
    expectEqual(await live.getAttribute('aria-live'), 'polite', '#live aria-live');
    const database = page.getByRole('link', { name: 'Database page', exact: true });
    expectEqual(await database.getAttribute('href'), '/databases/dev/orders', '"Database page" link href');
  });

  await step('the status page reaches change_open by itself (no reload)', async () => {
    await page.evaluate(() => {
      window.__journeyNotReloaded = true;
    });
    let handle;
    try {
      handle = await page.waitForFunction(
        (finals) => {
          const status = document.querySelector('#status')?.dataset.status;
          return (status === 'change_open' || finals.includes(status)) && status;
        },
        FINAL_STATUSES,
        { timeout: STATUS_TIMEOUT, polling: 250 },
      );
    } catch (error) {
      const status = await page.locator('#status').getAttribute('data-status').catch(() => null);
      throw new Error(`#status data-status still ${JSON.stringify(status)} after ${STATUS_TIMEOUT / 1000} s`);
    }
    const status = await handle.jsonValue();
    expectEqual(status, 'change_open', '#status data-status');
    expect(
      await page.evaluate(() => window.__journeyNotReloaded === true),
      'the status page was reloaded: it must refresh #live by script, not by navigating',
    );
    expectEqual(new URL(page.url()).pathname, requestPath, 'the status page\'s path while waiting');
    const words = (await page.locator('#status').innerText()).trim();
    expect(words.length > 0, '#status has no text');
    const steps = await page.locator('ol.steps > li[data-step]').evaluateAll((items) =>
      Object.fromEntries(items.map((li) => [li.dataset.step, li.dataset.state])),
    );
    for (const name of ['accepted', 'change_open', 'planned', 'applied']) {
      expect(name in steps, `ol.steps has no li[data-step="${name}"] (${JSON.stringify(steps)})`);
    }
    expectEqual(steps.accepted, 'done', 'step "accepted" data-state');
    const link = page.getByRole('link', { name: /^Change #\d+$/ });
    await single(link, 'link "Change #<n>"');
    change = Number((await link.innerText()).trim().replace('Change #', ''));
    expect(Number.isInteger(change) && change > 0, `change number ${change}`);
    noProblems('the status page');
    await shot(page, 'status.png', { fullPage: true });
    log(`     status ${JSON.stringify(words)}, change #${change}`);
  });

  await step('merge the change through the REST API', async () => {
    const { status, body } = await rest('POST', `/v1/changes/${change}/merge`);
    expect(status >= 200 && status < 300, `POST /v1/changes/${change}/merge: ${status} ${JSON.stringify(body)}`);
  });

  await step('the fleet lists dev/orders (postgres, alice)', async () => {
    await open(page, '/fleet');
    const row = await fleetRow(page, 'dev/orders');
    expect(row, 'no row tr[data-database="dev/orders"] in #fleet');
    expectEqual(row.Engine, 'postgres', 'fleet row dev/orders, column Engine');
    expectEqual(row.Owner, 'alice', 'fleet row dev/orders, column Owner');
    expectEqual(row.Environment, 'dev', 'fleet row dev/orders, column Environment');
    expectEqual(row.Team, 'data', 'fleet row dev/orders, column Team');
    const link = page.locator('#fleet tr[data-database="dev/orders"] a[href="/databases/dev/orders"]');
    await single(link, 'link to /databases/dev/orders in the fleet row');
    await page.getByRole('img', { name: 'Databases and cost per environment' }).waitFor();
    noProblems('the fleet');
    await shot(page, 'fleet.png', { fullPage: true });
    log(`     row ${JSON.stringify(row)}`);
  });

  await step('the fleet filter: environment dev keeps the row, prod hides it', async () => {
    await filterFleet(page, 'dev');
    expect(await fleetRow(page, 'dev/orders'), 'environment=dev: the row dev/orders is gone');
    await filterFleet(page, 'prod');
    expectEqual(await fleetRow(page, 'dev/orders'), null, 'environment=prod: the row dev/orders');
  });

  await step('the database page shows the expiry', async () => {
    await open(page, '/databases/dev/orders');
    const time = await single(page.locator('#expires-at time'), '#expires-at time');
    const datetime = await time.getAttribute('datetime');
    expiry = new Date(datetime);
    expect(!Number.isNaN(expiry.getTime()), `#expires-at time datetime is ${JSON.stringify(datetime)}`);
    const days = (expiry.getTime() - Date.now()) / 86_400_000;
    expect(days > 2.9 && days <= 3.01, `expiry ${datetime} is not about 3 days from now (${days.toFixed(2)})`);
    noProblems('the database page');
    await shot(page, 'database.png', { fullPage: true });
    log(`     expires at ${datetime}`);
  });

  await step('extend to 5d → role=status "Extension to <ISO> proposed in change #<n>"', async () => {
    await field(page, 'New time to live').fill('5d');
    const response = await navigation(page, () =>
      page.getByRole('button', { name: 'Extend', exact: true }).click(),
    );
    expectEqual(response.status(), 200, 'after extending: HTTP status');
    expectEqual(new URL(page.url()).pathname, '/databases/dev/orders', 'after extending, the page');
    const status = page.getByRole('status').filter({ hasText: 'Extension to' });
    await single(status, 'role=status holding "Extension to"');
    const text = (await status.innerText()).trim();
    const match = /Extension to (\S+) proposed in change #(\d+)/.exec(text);
    expect(match, `role=status reads ${JSON.stringify(text)}`);
    const extended = new Date(match[1]);
    expect(!Number.isNaN(extended.getTime()), `the extension's time ${JSON.stringify(match[1])} is not ISO`);
    expect(extended > expiry, `the extension ${match[1]} is not after the expiry ${expiry.toISOString()}`);
    extension = Number(match[2]);
    expect(extension !== change, `the extension's change #${extension} is the request's change`);
    noProblems('the extension');
    await shot(page, 'extended.png', { fullPage: true });
    log(`     ${text}`);
  });

  await step('merge the extension through the REST API: no change of dev/orders stays open', async () => {
    // One open change per database: the Change form is refused while the extension is open.
    const held = await openChanges();
    expect(
      held.length === 1 && held[0].id === extension && held[0].branch.startsWith(`${BRANCH}.extend-`),
      `open changes of dev/orders before the merge: ${JSON.stringify(held.map((c) => [c.id, c.branch]))}`,
    );
    const { status, body } = await rest('POST', `/v1/changes/${extension}/merge`);
    expect(status >= 200 && status < 300, `POST /v1/changes/${extension}/merge: ${status} ${JSON.stringify(body)}`);
    const left = await openChanges();
    const branches = JSON.stringify(left.map((c) => c.branch));
    expect(left.length === 0, `open changes of dev/orders after the merge: ${branches}`);
  });

  await step('Change: storage that shrinks → 422, the field marked invalid with its rule, no change', async () => {
    const claimed = (await databaseAnswer()).claim?.storage_gb;
    expect(Number.isInteger(claimed) && claimed > 1, `the claim's storage_gb is ${JSON.stringify(claimed)}`);
    await open(page, '/databases/dev/orders');
    const form = await single(page.locator('#change-database form'), 'the Change form (#change-database form)');
    expectEqual(await form.getAttribute('action'), '/databases/dev/orders/modify', 'the Change form\'s action');
    const size = await single(field(page, 'Size'), 'select labelled "Size"');
    const options = await size.locator('option').evaluateAll((all) => all.map((o) => o.value));
    expectEqual(JSON.stringify(options), JSON.stringify(['', 'small', 'medium', 'large']), '"Size" option values');
    for (const label of ['Engine version', 'Owner', 'Team']) {
      await single(field(page, label), `input labelled "${label}"`);
    }
    const storage = await single(field(page, 'Storage (GB, grows only)'), 'input labelled "Storage (GB, grows only)"');
    expectEqual(await storage.getAttribute('placeholder'), String(claimed), '"Storage (GB, grows only)" placeholder');
    await storage.fill('1');
    const response = await navigation(page, () => page.getByRole('button', { name: 'Change', exact: true }).click());
    expectEqual(response.status(), 422, 'POST /databases/dev/orders/modify with storage 1: HTTP status');
    const refused = await single(field(page, 'Storage (GB, grows only)'), 'the form again: "Storage (GB, grows only)"');
    expectEqual(await refused.getAttribute('aria-invalid'), 'true', '"Storage (GB, grows only)" aria-invalid');
    const describedBy = (await refused.getAttribute('aria-describedby')) || '';
    expect(
      describedBy.split(/\s+/).includes('error-storage_gb'),
      `"Storage (GB, grows only)" aria-describedby is ${JSON.stringify(describedBy)}, not error-storage_gb`,
    );
    expectEqual(await refused.inputValue(), '1', '"Storage (GB, grows only)" value kept after 422');
    const rule = await single(page.locator('#change-database p.field-error#error-storage_gb'), 'p#error-storage_gb');
    const ruleText = (await rule.innerText()).trim();
    // Grows only; a claim at the environment's least storage (dev's 20 GB) meets the range rule first.
    const least = /^must be between (\d+) and \d+, got 1$/.exec(ruleText);
    expect(
      ruleText.startsWith(`can only grow: RDS cannot shrink allocated storage (now ${claimed} GB)`) ||
        (least && Number(least[1]) >= claimed),
      `the storage rule reads ${JSON.stringify(ruleText)} (the claim has ${claimed} GB)`,
    );
    expectEqual(await page.getByRole('status').count(), 0, 'role=status after a refused change');
    const held = await openChanges();
    expect(held.length === 0, `a refused change opened ${JSON.stringify(held.map((c) => c.branch))}`);
    noProblems('the refused change');
    log(`     ${ruleText}`);
  });

  await step('Change: size medium → "Modification proposed in change #<n>", one open change', async () => {
    await open(page, '/databases/dev/orders'); // afresh: the refused form kept storage 1
    await field(page, 'Size').selectOption('medium');
    const response = await navigation(page, () => page.getByRole('button', { name: 'Change', exact: true }).click());
    expectEqual(response.status(), 200, 'after the change: HTTP status');
    expectEqual(new URL(page.url()).pathname, '/databases/dev/orders', 'after the change, the page');
    const status = page.getByRole('status').filter({ hasText: 'Modification proposed' });
    await single(status, 'role=status holding "Modification proposed"');
    const text = (await status.innerText()).trim();
    const match = /^Modification proposed in change #(\d+)\b/.exec(text);
    expect(match, `role=status reads ${JSON.stringify(text)}`);
    const modification = Number(match[1]);
    expect(![change, extension].includes(modification), `the modification's change #${modification} is not new`);
    const held = await openChanges();
    expect(
      held.length === 1 && held[0].branch === `${BRANCH}.modify-1` && held[0].id === modification,
      `open changes of dev/orders: ${JSON.stringify(held.map((c) => [c.id, c.branch]))},` +
        ` not #${modification} on ${BRANCH}.modify-1`,
    );
    noProblems('the change');
    await shot(page, 'changed.png', { fullPage: true });
    log(`     ${text}`);
  });

  await step(`Connect before apply: "${NOT_YET_CONNECTED}"`, async () => {
    const connect = await single(page.locator('section#connect'), 'section#connect');
    await single(connect.getByRole('heading', { name: 'Connect', exact: true }), 'heading "Connect" in #connect');
    await single(connect.getByText(NOT_YET_CONNECTED, { exact: true }), `"${NOT_YET_CONNECTED}" in #connect`);
    expectEqual(await connect.locator('pre, dl').count(), 0, 'commands or facts in #connect before apply');
  });

  await step('record the apply as `dbvend ci apply` does: the request applied with its connection', async () => {
    const before = await databaseAnswer();
    expect(before.request_id, `GET /v1/databases/dev/orders has no request_id: ${JSON.stringify(before)}`);
    expectEqual(before.connection ?? null, null, 'connection details before apply');
    const recorded = await recordApplied(before.request_id);
    expectEqual(recorded.status, 'applied', 'record_applied.py: the request\'s status');
    const after = await databaseAnswer();
    expectEqual(after.status, 'applied', 'GET /v1/databases/dev/orders after apply: status');
    for (const [key, value] of Object.entries(CONNECTION)) {
      expectEqual(after.connection?.[key], value, `GET /v1/databases/dev/orders after apply: connection.${key}`);
    }
    log(`     request ${before.request_id} applied`);
  });

  await step('Connect after apply: facts, IAM token and secret commands, a ${PASSWORD} URL, no password', async () => {
    await open(page, '/databases/dev/orders');
    const connect = page.locator('section#connect');
    expectEqual(await connect.getByText(NOT_YET_CONNECTED).count(), 0, `"${NOT_YET_CONNECTED}" after apply`);
    const facts = await connectFacts(page);
    const expected = {
      Host: CONNECTION.host,
      Port: '5432',
      Database: 'orders',
      User: 'dbadmin',
      'Master secret': CONNECTION.master_secret_arn,
      'IAM authentication': 'enabled',
    };
    expectEqual(JSON.stringify(facts), JSON.stringify(expected), '#connect facts');
    for (const name of ['With an IAM token', 'With the master password from Secrets Manager', 'Connection string']) {
      await single(connect.getByRole('heading', { name, exact: true }), `heading "${name}" in #connect`);
    }
    const blocks = (await connect.locator('pre').allInnerTexts()).map((b) => b.trim());
    expectEqual(blocks.length, 3, 'code blocks in #connect (IAM token, secret, connection string)');
    const [iam, secret, url] = blocks;
    const token =
      `aws rds generate-db-auth-token --hostname ${CONNECTION.host} --port 5432 --username dbadmin --region eu-west-1`;
    expect(iam.startsWith(`export PGPASSWORD=$(${token})\n`), `the IAM token commands read ${JSON.stringify(iam)}`);
    const psql = `psql 'host=${CONNECTION.host} port=5432 dbname=orders user=dbadmin sslmode=require'`;
    const fetchSecret = `aws secretsmanager get-secret-value --secret-id '${CONNECTION.master_secret_arn}'`;
    expect(iam.endsWith(psql), `the IAM token commands do not end with ${psql}: ${JSON.stringify(iam)}`);
    expect(
      secret.startsWith(`export PGPASSWORD=$(${fetchSecret}`) &&
        secret.includes('--region eu-west-1 --query SecretString --output text | jq -r .password)') &&
        secret.endsWith(psql),
      `the Secrets Manager commands read ${JSON.stringify(secret)}`,
    );
    expectEqual(
      url,
      `postgresql://dbadmin:\${PASSWORD}@${CONNECTION.host}:5432/orders?sslmode=require`,
      'the connection string',
    );
    // No password anywhere: each assignment of the password variable is a command substitution.
    for (const [what, text] of [
      ['page text', await page.locator('body').innerText()],
      ['page HTML', await page.content()],
    ]) {
      const literal = /(?:PGPASSWORD|MYSQL_PWD)=(?!"?\$\()\S*/.exec(text);
      expect(literal === null, `the ${what} holds a password assignment: ${literal?.[0]}`);
      for (const [whole, password] of text.matchAll(/[a-z]+:\/\/[^:@/\s]+:([^@\s]+)@/g)) {
        expectEqual(password, '${PASSWORD}', `the password in a URL of the ${what} (${whole})`);
      }
    }
    const history = (await page.locator('ol.history > li').first().innerText()).trim();
    expect(/\bapplied\b.*dbvend ci apply:/.test(history), `the newest history entry reads ${JSON.stringify(history)}`);
    noProblems('the Connect section');
    await shot(page, 'connect.png', { fullPage: true });
  });

  const state = await context.storageState();
  await context.close();
  return state;
}

async function phone(browser, current, storageState) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState });
  const page = await context.newPage();
  current.page = page;
  page.setDefaultTimeout(STEP_TIMEOUT);
  watch(page, 'phone');

  await step('phone 390x844: the fleet has no horizontal scrollbar', async () => {
    await open(page, '/fleet');
    const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    // The tables scroll inside their own boxes; the page itself never does.
    expect(width[0] <= width[1] + 1, `/fleet is ${width[0]} px wide in a ${width[1]} px window (horizontal scrollbar)`);
    noProblems('the fleet on a phone');
    await shot(page, 'fleet-phone.png', { fullPage: true });
  });

  await step('phone 390x844: the request page has no horizontal scrollbar', async () => {
    await open(page, '/request');
    const { scrollWidth, innerWidth, viewportMeta } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      viewportMeta: document.querySelector('meta[name="viewport"]')?.getAttribute('content') ?? null,
    }));
    expect(
      scrollWidth <= innerWidth + 1,
      `the request page is ${scrollWidth} px wide in a ${innerWidth} px window (horizontal scrollbar)`,
    );
    if (viewportMeta === null) log('     warning: no <meta name="viewport">: a phone would show the page zoomed out');
  });
  await context.close();
}

async function main() {
  mkdirSync(ARTEFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: EXECUTABLE, args: CHROMIUM_FLAGS });
  log(`chromium ${browser.version()} (${EXECUTABLE}) against ${BASE_URL}`);
  const current = { page: null };
  try {
    const state = await journey(browser, current);
    await phone(browser, current, state);
    log(`journey passed: ${SCREENSHOTS.length} screenshots in ${ARTEFACTS}`);
  } catch (error) {
    const page = current.page;
    if (page && !page.isClosed()) {
      console.error(`page at failure: ${page.url()}`);
      const text = await page.locator('body').innerText({ timeout: 2000 }).catch(() => '');
      console.error(`page text: ${text.slice(0, 800)}`);
      await shot(page, 'failure.png', { fullPage: true }).catch(() => {});
    }
    throw error;
  } finally {
    await browser.close();
  }
}

try {
  await main();
} catch (error) {
  console.error(`FAILED ${error.message}`);
  if (process.env.JOURNEY_DEBUG) console.error(error.stack);
  process.exitCode = 1;
}
