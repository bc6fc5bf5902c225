// The target pages' actions and the delivery states, in real headless
// Chromium against the real daemon: "status" keeps an order per pipeline
// with the latest winning (order_by, latest_wins), "pd" is a PagerDuty
// target that skips what is not a failure or a fix, and "gone" answers
// 410 once, which disables it. Pause, Resume and Enable are clicked in the
// page; the local targets show what herald sent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeBrowser, herald, page, ROOT, shot, target, until } from './harness.mjs';

after(closeBrowser);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* The states GET /api/v1/deliveries takes, as src/api/api.c lists them. */
function apiStates() {
  const src = fs.readFileSync(path.join(ROOT, 'src/api/api.c'), 'utf8');
  const list = /delivery_states\[\] = \{([^}]*)\}/.exec(src);
  assert.ok(list, 'delivery_states in src/api/api.c');
  return [...list[1].matchAll(/"([a-z]+)"/g)].map((m) => m[1]);
}

function config(urls) {
  return `delivery:
  max_attempts: 3
  backoff_initial: 200ms
  backoff_max: 400ms
  timeout: 1s
  allow: [127.0.0.0/8]
  circuit: {failures: 0}
targets:
  - name: status
    url: ${urls.status}/status
    order_by: "{{ .pipeline.name }}"
    latest_wins: true
  - name: pd
    type: pagerduty
    token: routing-key-0123
    api_url: ${urls.pd}
  - name: gone
    url: ${urls.gone}/gone
routes:
  - name: all
    targets: [status, pd, gone]
`;
}

/** A row of the targets table, by the target's name. */
function row(p, name) {
  return p.locator('tbody tr', { has: p.getByRole('link', { name, exact: true }) });
}

/** Waits until the page's table has n rows; says what it showed if not. */
async function rowsAre(p, n, what) {
  try {
    await until(async () => (await p.locator('tbody tr').count()) === n, what);
  } catch (e) {
    throw new Error(e.message + ' at ' + p.url() + ':\n' + (await p.locator('main').innerText()));
  }
}

function names(requests) {
  return requests.map((r) => JSON.parse(r.body).summary).map((s) => s.name + ' #' + s.number).sort();
}

describe('pausing, resuming and enabling a target from the page', () => {
  let h, status, pd, gone;
  let winner = null; /* the delivery that superseded another */

  before(async () => {
    status = await target([200]);
    pd = await target([202]);
    gone = await target([410, 200]);
    h = await herald(config({ status: status.url, pd: pd.url, gone: gone.url }), ['--insecure-local']);
    await h.stage('web', 1, 'Passed');
    await until(async () => (await h.deliveries({ target: 'status', state: 'delivered' })).length === 1 &&
      (await h.deliveries({ target: 'pd', state: 'skipped' })).length === 1 &&
      (await h.get('/api/v1/targets/gone')).state === 'disabled', 'status delivered, pd skipped, gone disabled');
  });

  after(async () => {
    await h.stop();
    await status.stop();
    await pd.stop();
    await gone.stop();
  });

  test("Pause holds a target's deliveries and Resume sends them, from the pages", async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/targets');
    await row(p, 'status').getByRole('button', { name: 'Pause' }).waitFor();
    assert.equal(await row(p, 'status').locator('td').nth(2).textContent(), 'healthy');
    // A second tab, opened before the pause, still offers Pause.
    const q = await page();
    await q.goto(h.base + '/ui/#/targets/status');
    await q.getByRole('button', { name: 'Pause' }).waitFor();

    await row(p, 'status').getByRole('button', { name: 'Pause' }).click();
    await p.getByText('Target status is paused: its deliveries are held until it is resumed.').waitFor();
    await row(p, 'status').getByRole('button', { name: 'Resume' }).waitFor();
    assert.equal(await row(p, 'status').locator('td').nth(2).textContent(), 'paused');
    const rec = await h.get('/api/v1/targets/status');
    assert.equal(rec.state, 'paused');
    assert.equal(rec.paused, true);
    // The older tab's Pause is a second pause: the same answer, no second change.
    await q.getByRole('button', { name: 'Pause' }).click();
    await q.getByText('Target status is paused').waitFor();
    await q.getByRole('button', { name: 'Resume' }).waitFor();
    const told = (await h.get('/api/v1/events?source=herald&kind=target-health&limit=100')).events
      .filter((e) => e.target_health.target === 'status' && e.target_health.change === 'paused');
    assert.equal(told.length, 1, 'one pause was recorded');

    // Paused: three events, nothing sent to it.
    const sent = status.requests.length;
    await h.stage('api', 1, 'Failed');
    // pd keeps an order per pipeline with the latest winning too: api #2
    // would supersede api #1's page if it came while that was still
    // pending, as it may on a loaded machine. The later tests expect the
    // page sent, then the fix.
    await until(() => pd.requests.length === 1, 'pd to be sent the failure of api #1');
    await h.stage('api', 2, 'Passed');
    await h.stage('web', 2, 'Passed');
    await until(async () => (await h.deliveries({ target: 'gone' })).length === 4, 'the deliveries of four events');
    await sleep(1500);
    assert.equal(status.requests.length, sent, 'a paused target received a request');
    const held = await h.deliveries({ target: 'status', state: 'pending' });
    assert.equal(held.length, 3);
    winner = held.find((d) => d.order_key === 'api' && d.queue_position === 1);
    assert.ok(winner, 'api #2 waits behind api #1: ' + JSON.stringify(held));

    // A held delivery's page: its key, its place, and who holds it.
    await p.goto(h.base + '/ui/#/deliveries/' + winner.id);
    await p.locator('#held').waitFor();
    assert.equal(await p.locator('#held').textContent(),
      'Held: target status is paused by an operator: its deliveries are held until it is resumed.');
    assert.match(await p.locator('dl.facts').textContent(), /Statepending.*Order keyapiPlace in queue1 older delivery with its key waits before it/);
    await shot(p, 'delivery-held');

    // Every state on one page: paused, disabled (with Enable), healthy.
    await p.goto(h.base + '/ui/#/targets');
    await row(p, 'gone').getByRole('button', { name: 'Enable' }).waitFor();
    assert.equal(await row(p, 'gone').locator('td').nth(2).textContent(), 'disabled');
    assert.equal(await row(p, 'pd').locator('td').nth(2).textContent(), 'healthy');
    await shot(p, 'targets-health');

    await p.goto(h.base + '/ui/#/targets/status');
    await p.getByRole('button', { name: 'Resume' }).waitFor();
    assert.match(await p.locator('#target-health').textContent(), /Statepaused .*Waiting now3 pending, 0 retrying/);
    await shot(p, 'target-paused');
    await p.getByRole('button', { name: 'Resume' }).click();
    await p.getByText('Target status is healthy: what it held is due now.').waitFor();
    await p.getByRole('button', { name: 'Pause' }).waitFor();
    assert.equal((await h.get('/api/v1/targets/status')).paused, false);
    // The newest of each key is sent; api #1 was superseded by api #2.
    await until(() => status.requests.length === sent + 2, 'the held deliveries to arrive');
    await until(async () => (await h.deliveries({ target: 'status', state: 'superseded' })).length === 1, 'one superseded');
    await sleep(500);
    assert.deepEqual(names(status.requests.slice(sent)), ['api/verify #2', 'web/verify #2']);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(q.errors, []);
  });

  test('the state filter finds superseded and skipped deliveries, and their pages say why', async () => {
    assert.ok(winner, 'the pause test ran');
    const p = await page();
    await p.goto(h.base + '/ui/#/deliveries');
    const offered = await p.getByLabel('State').locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(offered, ['', ...apiStates()]);
    assert.ok(offered.includes('dropped'));

    await p.getByLabel('State').selectOption('superseded');
    await p.getByRole('button', { name: 'Filter' }).click();
    await rowsAre(p, 1, 'one superseded delivery');
    assert.match(p.url(), /#\/deliveries\?state=superseded$/);
    assert.match(await p.locator('tbody tr').textContent(), /status.*superseded.*superseded by delivery/);
    await p.locator('tbody tr a').first().click();
    await p.getByRole('heading', { name: /^Delivery #\d+$/ }).waitFor();
    const facts = await p.locator('dl.facts').textContent();
    assert.match(facts, new RegExp('Statesuperseded' +
      'Whysuperseded by delivery ' + winner.id + ' \\(newer, with the same order key\\)' +
      'Order keyapiPlace in queuenot waiting'));
    await shot(p, 'delivery-superseded');
    // "delivery N" goes to the one that won.
    await p.locator('dl.facts').getByRole('link', { name: String(winner.id), exact: true }).click();
    await p.getByRole('heading', { name: 'Delivery #' + winner.id }).waitFor();
    assert.match(await p.locator('dl.facts').textContent(), /Statedelivered/);

    // Skipped: PagerDuty is sent failures and fixes, not passes.
    await p.goto(h.base + '/ui/#/deliveries?state=skipped');
    await rowsAre(p, 2, 'web #1 and #2 skipped by pd');
    assert.equal(await p.getByLabel('State').inputValue(), 'skipped');
    const skipped = (await h.deliveries({ state: 'skipped' }))[0];
    assert.equal(skipped.target, 'pd');
    assert.ok(skipped.last_error, 'a skipped delivery says why');
    await p.goto(h.base + '/ui/#/deliveries/' + skipped.id);
    await p.getByRole('heading', { name: 'Delivery #' + skipped.id }).waitFor();
    assert.ok((await p.locator('dl.facts').textContent()).includes('Stateskipped' + 'Why' + skipped.last_error));
    assert.equal(pd.requests.length, 2, 'pd got the failure and the fix only');
    assert.deepEqual(p.errors, []);
  });

  test('Enable sends what a target disabled by a 410 held', async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/targets/gone');
    await p.getByRole('button', { name: 'Enable' }).waitFor();
    assert.match(await p.locator('#target-health').textContent(),
      /Statedisabled .*Disabled becausethe target answered 410 Gone/);
    assert.equal(gone.requests.length, 1);
    await p.getByRole('button', { name: 'Enable' }).click();
    await p.getByText('Target gone is healthy: what it held is due now.').waitFor();
    await until(async () => (await p.getByRole('button', { name: 'Enable' }).count()) === 0, 'Enable to go');
    // A minute: on a loaded machine (the suite runs the files side by side)
    // four deliveries once took longer than the default 20 s.
    await until(() => gone.requests.length === 5, 'the three held, and the one that had the 410 again', 60000);
    assert.equal((await h.get('/api/v1/targets/gone')).state, 'healthy');
    assert.deepEqual(p.errors, []);
  });
});

describe('target actions with the API token', () => {
  const TOKEN = 'browser-test-token-targets-42';
  let h, hook;

  before(async () => {
    hook = await target([200]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-tok-'));
    fs.writeFileSync(path.join(dir, 'token'), TOKEN + '\n');
    h = await herald(config({ status: hook.url, pd: hook.url, gone: hook.url }), ['--api-token-file', path.join(dir, 'token')]);
    fs.rmSync(dir, { recursive: true });
    h.headers = { Authorization: 'Bearer ' + TOKEN };
  });

  after(async () => {
    await h.stop();
    await hook.stop();
  });

  test('Pause and Resume go through the token prompt', async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/targets/status');
    await p.getByLabel('Token').fill(TOKEN);
    await p.getByRole('button', { name: 'Use token' }).click();
    await p.getByRole('button', { name: 'Pause' }).click();
    await p.getByText('Target status is paused').waitFor();
    assert.equal((await h.get('/api/v1/targets/status')).paused, true);
    // The token gone (another tab forgot it): Resume asks for it, is
    // refused without it, and works once it is given.
    await p.evaluate(() => sessionStorage.removeItem('herald.api-token'));
    await p.getByRole('button', { name: 'Resume' }).click();
    await p.getByLabel('Token').waitFor();
    assert.equal((await h.get('/api/v1/targets/status')).paused, true);
    await p.getByLabel('Token').fill(TOKEN);
    await p.getByRole('button', { name: 'Use token' }).click();
    await p.getByRole('button', { name: 'Resume' }).click();
    await p.getByText('Target status is healthy').waitFor();
    assert.equal((await h.get('/api/v1/targets/status')).paused, false);
    assert.deepEqual(p.errors, []);
  });
});
