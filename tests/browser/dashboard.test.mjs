// herald's dashboard (/ui/) in real headless Chromium against the real
// daemon: GoCD's stage-status requests make the events, and two local
// targets take the deliveries: "hook" fails once then succeeds, "down"
// fails until a test makes it answer 200. Each test saves a screenshot
// of its page (harness.mjs, SHOTS).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeBrowser, config, herald, page, shot, SHOTS, target, until } from './harness.mjs';

after(closeBrowser);

describe('dashboard with the API open (--insecure-local)', () => {
  let h, hook, down;

  before(async () => {
    hook = await target([500, 200]);
    down = await target([500]);
    h = await herald(config({ hook: hook.url, down: down.url }), ['--insecure-local']);
    await h.stage('web', 1, 'Passed');
    await h.stage('api', 1, 'Passed');
    await h.stage('api', 2, 'Failed');
    await until(async () => (await h.deliveries({ state: 'delivered', target: 'hook' })).length === 3 &&
      (await h.deliveries({ state: 'dead', target: 'down' })).length === 3, 'hook delivered 3, down dead 3');
  });

  after(async () => {
    await h.stop();
    await hook.stop();
    await down.stop();
  });

  test('the overview shows the counts per target and what is broken', async () => {
    const p = await page();
    await p.goto(h.base + '/ui/');
    const row = (name) => p.locator('#per-target tr', { has: p.locator('td a', { hasText: new RegExp('^' + name + '$') }) });
    await row('hook').waitFor();
    // Target, pending, retrying, delivered 1 h, dead 1 h, delivered 24 h, dead 24 h
    assert.deepEqual((await row('hook').locator('td').allTextContents()).slice(0, 7), ['hook', '0', '0', '3', '0', '3', '0']);
    assert.deepEqual((await row('down').locator('td').allTextContents()).slice(0, 7), ['down', '0', '0', '0', '3', '0', '3']);
    assert.match(await p.locator('.card', { hasText: 'targets failing now' }).textContent(), /^1/);
    assert.match(await p.locator('.card', { hasText: 'pipelines and jobs broken' }).textContent(), /^1/);
    // Three events sent, and herald's own target-health event for each of
    // down's three dead letters.
    assert.equal(await p.locator('#events-per-minute').textContent(), (6 / 60).toFixed(2));
    const broken = p.locator('tr', { hasText: 'api / verify' });
    assert.match(await broken.textContent(), /Failed/);
    // The time is the browser's; the UTC instant is on hover.
    assert.match(await broken.locator('time').getAttribute('title'), /^UTC \d{4}-\d\d-\d\dT/);
    await shot(p, 'overview');
    assert.deepEqual(p.errors, []);
  });

  test('the events filter finds a pipeline, from a link that can be shared', async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/events');
    await p.locator('tbody tr').first().waitFor();
    assert.equal(await p.locator('tbody tr').count(), 6); // 3 sent, 3 target-health
    await p.keyboard.press('/');
    assert.equal(await p.evaluate(() => document.activeElement.name), 'source');
    await p.getByLabel('Pipeline or job').fill('api');
    await p.getByLabel('Pipeline or job').press('Enter'); // the keyboard is enough
    await until(async () => (await p.locator('tbody tr').count()) === 2, 'two api events');
    assert.match(p.url(), /#\/events\?pipeline=api$/);
    const names = await p.locator('tbody tr td:nth-child(5)').allTextContents();
    assert.deepEqual(names, ['api/verify #2', 'api/verify #1']); // newest first
    await shot(p, 'events');

    // The same address in a new tab shows the same filter and rows.
    const q = await page();
    await q.goto(p.url());
    await until(async () => (await q.locator('tbody tr').count()) === 2, 'the shared link');
    assert.equal(await q.getByLabel('Pipeline or job').inputValue(), 'api');

    // "Received before" the newest api event: the two before it, found by
    // halving over ids, and no live update on a page of the past.
    const newest = (await h.get('/api/v1/events?pipeline=api&limit=1')).events[0];
    const r = await page();
    await r.goto(h.base + '/ui/#/events?until=' + encodeURIComponent(newest.received_at));
    await until(async () => (await r.locator('tbody tr').count()) === 2, 'the events before it');
    assert.deepEqual(await r.locator('tbody tr td:nth-child(5)').allTextContents(), ['api/verify #1', 'web/verify #1']);
    assert.equal(await r.getByLabel('Received before').inputValue() !== '', true);
    await r.goto(h.base + '/ui/#/events?until=yesterday-ish');
    await r.getByText('until: expected a time like').waitFor();

    // An event's page: its normalised form, what was received, its deliveries.
    await p.locator('tbody tr').first().locator('a').first().click();
    await p.getByRole('heading', { name: /^Event #\d+$/ }).waitFor();
    assert.match(await p.locator('pre').nth(0).textContent(), /"transition": "broken"/);
    assert.match(await p.locator('pre').nth(1).textContent(), /"stage"/);
    assert.equal(await p.locator('tbody tr').count(), 2); // hook and down
    await shot(p, 'event');
    assert.deepEqual(p.errors, []);
  });

  test("a delivery's page shows each attempt and when the next is due", async () => {
    const first = (await h.deliveries({ target: 'hook' })).find((d) => d.attempts === 2);
    assert.ok(first, 'the hook delivery that failed once');
    const p = await page();
    await p.goto(h.base + '/ui/#/deliveries/' + first.id);
    await p.getByRole('heading', { name: 'Attempts' }).waitFor();
    const rows = p.locator('table tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).textContent(), /500.*retry.*HTTP 500.*target says no \(500\)/);
    assert.match(await rows.nth(1).textContent(), /200.*delivered/);
    assert.match(await p.locator('dl.facts').textContent(), /Next attempt duenone/);
    await shot(p, 'delivery');
    assert.deepEqual(p.errors, []);
  });

  test('the replay button redelivers a dead delivery, and the target receives it', async () => {
    down.script = [200];
    const dead = (await h.deliveries({ target: 'down', state: 'dead' }))[0];
    const before = down.requests.length;
    const p = await page();
    await p.goto(h.base + '/ui/#/deliveries/' + dead.id);
    await p.getByRole('heading', { name: 'Attempts' }).waitFor();
    assert.match(await p.locator('dl.facts').textContent(), /Statedead/);
    await p.getByRole('button', { name: 'Replay' }).click();
    await p.getByText('Delivery #' + dead.id + ' is due again now.').waitFor();
    await until(() => down.requests.length === before + 1, 'the target to receive the replay');
    assert.equal(down.requests.at(-1).headers['x-herald-delivery'], String(dead.id));
    await until(async () => (await h.get('/api/v1/deliveries/' + dead.id)).state === 'delivered', 'delivered');
    await p.reload();
    await until(async () => /Statedelivered/.test(await p.locator('dl.facts').textContent()), 'the page to show delivered');
    assert.equal(await p.locator('table tbody tr').count(), 3);
    assert.deepEqual(p.errors, []);
  });

  test('bulk replay shows how many first, then replays that many', async () => {
    const dead = await h.deliveries({ target: 'down', state: 'dead' });
    assert.equal(dead.length, 2);
    const before = down.requests.length;
    const p = await page();
    await p.goto(h.base + '/ui/#/deliveries?state=dead&target=down');
    await until(async () => (await p.locator('tbody tr').count()) === 2, 'two dead rows');
    await p.getByRole('button', { name: 'Replay all matching…' }).click();
    const confirm = p.getByRole('button', { name: 'Replay 2' });
    await confirm.waitFor();
    assert.match(await p.locator('#bulk-ask').textContent(), /makes 2 dead deliveries to down due again now/);
    await shot(p, 'deliveries');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(down.requests.length, before, 'nothing is replayed before the user confirms');
    await confirm.click();
    await p.getByText('Replayed 2 deliveries.').waitFor();
    await until(() => down.requests.length === before + 2, 'the target to receive two');
    await until(async () => (await h.deliveries({ target: 'down', state: 'dead' })).length === 0, 'no dead left');
    // Cancel leaves everything as it was.
    await p.goto(h.base + '/ui/#/deliveries?target=hook');
    await p.getByRole('button', { name: 'Replay all matching…' }).click();
    await p.getByRole('button', { name: 'Replay 3' }).waitFor();
    await p.getByRole('button', { name: 'Cancel' }).click();
    await p.getByRole('button', { name: 'Replay all matching…' }).waitFor();
    assert.equal(down.requests.length, before + 2);
    // With "Created before", the count and the replay's until agree.
    const hookNewest = (await h.deliveries({ target: 'hook' }))[0];
    const hookBefore = hook.requests.length;
    await p.goto(h.base + '/ui/#/deliveries?target=hook&until=' + encodeURIComponent(hookNewest.created_at));
    await until(async () => (await p.locator('tbody tr').count()) === 2, 'two older hook rows');
    await p.getByRole('button', { name: 'Replay all matching…' }).click();
    await p.getByRole('button', { name: 'Replay 2' }).click();
    await p.getByText('Replayed 2 deliveries.').waitFor();
    await until(() => hook.requests.length === hookBefore + 2, 'hook to receive two');
    assert.deepEqual(p.errors, []);
  });

  test('the targets page and the pipelines board', async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/targets');
    await p.getByRole('heading', { name: 'Targets' }).waitFor();
    const hookRow = p.locator('tbody tr', { hasText: '/hook/hook' });
    await hookRow.waitFor();
    assert.match(await hookRow.textContent(), /webhook/);
    assert.equal(await hookRow.locator('time').count(), 1); // last success
    await shot(p, 'targets');
    await p.goto(h.base + '/ui/#/pipelines');
    const tile = p.locator('.tile', { hasText: 'api / verify' });
    await tile.waitFor();
    assert.match(await tile.getAttribute('class'), /red/);
    assert.match(await p.locator('.tile', { hasText: 'web / verify' }).getAttribute('class'), /green/);
    await shot(p, 'pipelines');
    assert.deepEqual(p.errors, []);
  });

  test('idle cost: API calls per minute of a page left open, and its weight', async () => {
    const pages = {};
    for (const name of ['overview', 'events', 'deliveries']) {
      const p = await page();
      const calls = [];
      p.on('response', (r) => {
        if (new URL(r.url()).pathname.startsWith('/api/v1/')) calls.push(r.body().then((b) => b.length, () => 0));
      });
      await p.goto(h.base + '/ui/#/' + (name === 'overview' ? '' : name));
      await p.locator('main h1').waitFor();
      await p.waitForLoadState('networkidle');
      pages[name] = { calls, loaded: calls.length };
    }
    // A tab in the background makes no call at all.
    const hidden = await page();
    let hiddenCalls = 0;
    await hidden.goto(h.base + '/ui/#/events');
    await hidden.locator('main h1').waitFor();
    await hidden.evaluate(() => Object.defineProperty(document, 'hidden', { get: () => true }));
    hidden.on('request', (r) => { if (r.url().includes('/api/v1/')) hiddenCalls++; });
    // Counted from here: on a loaded machine the pages above may take a
    // while, and their polls meanwhile are not this minute's.
    for (const v of Object.values(pages)) v.start = v.calls.length;
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 61000));
    const out = { measured_ms: Date.now() - start, pages: {} };
    for (const [name, v] of Object.entries(pages)) {
      const idle = v.calls.slice(v.start);
      const bytes = (await Promise.all(idle)).reduce((a, b) => a + b, 0);
      out.pages[name] = { api_calls_at_load: v.loaded, api_calls_per_idle_minute: idle.length, api_bytes_per_idle_minute: bytes };
      // The lists check every 15 s, the overview once a minute (a tick on
      // each edge of the 61 s may fall inside).
      const want = name === 'overview' ? [1, 2] : [4, 5];
      assert.ok(idle.length >= want[0] && idle.length <= want[1], name + ' makes ' + idle.length + ' calls a minute when idle');
    }
    assert.equal(hiddenCalls, 0, 'a hidden tab polls');
    out.pages.hidden_tab = { api_calls_per_idle_minute: hiddenCalls };
    const files = ['index.html', 'app.js', 'targets.js', 'app.css'];
    out.files = Object.fromEntries(await Promise.all(files.map(async (f) => [f, (await (await fetch(h.base + '/ui/' + (f === 'index.html' ? '' : f))).arrayBuffer()).byteLength])));
    out.total_bytes = Object.values(out.files).reduce((a, b) => a + b, 0);
    assert.ok(out.total_bytes < 64 * 1024, 'the page weighs ' + out.total_bytes + ' bytes');
    fs.writeFileSync(path.join(SHOTS, 'measurements.json'), JSON.stringify(out, null, 2) + '\n');
  });
});

describe('dashboard with the API token', () => {
  const TOKEN = 'browser-test-token-0123456789';
  let h, hook;

  before(async () => {
    hook = await target([200]);
    const tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'herald-tok-')), 'token');
    fs.writeFileSync(tokenFile, TOKEN + '\n');
    h = await herald(config({ hook: hook.url }), ['--api-token-file', tokenFile]);
    fs.rmSync(path.dirname(tokenFile), { recursive: true });
    h.headers = { Authorization: 'Bearer ' + TOKEN };
    await h.stage('web', 1, 'Failed');
    await until(async () => (await h.deliveries({ state: 'delivered' })).length === 1, 'one delivery');
  });

  after(async () => {
    await h.stop();
    await hook.stop();
  });

  test('the token prompt refuses a wrong token, and the right one opens every page', async () => {
    const p = await page();
    const sent = [];
    p.on('request', (r) => { if (r.url().includes('/api/v1/')) sent.push({ url: r.url(), auth: r.headers().authorization }); });
    await p.goto(h.base + '/ui/#/events');
    const input = p.getByLabel('Token');
    await input.waitFor();
    await shot(p, 'token');
    await input.fill('not-the-token');
    await input.press('Enter');
    await p.getByText('herald refused that token.').waitFor();
    assert.equal(await p.evaluate(() => sessionStorage.getItem('herald.api-token')), null);
    await input.fill(TOKEN);
    await p.getByRole('button', { name: 'Use token' }).click();
    await p.getByRole('heading', { name: 'Events' }).waitFor();
    await until(async () => (await p.locator('tbody tr').count()) === 1, 'the event');
    // Kept for the tab's session, sent as a header, never in an address or a cookie.
    assert.equal(await p.evaluate(() => sessionStorage.getItem('herald.api-token')), TOKEN);
    assert.deepEqual(await p.context().cookies(), []);
    assert.ok(sent.every((s) => !s.url.includes(TOKEN)));
    assert.ok(sent.some((s) => s.auth === 'Bearer ' + TOKEN));
    assert.ok(!p.url().includes(TOKEN));
    // A write with the token: replay the delivery from its page.
    const d = (await h.deliveries({}))[0];
    await p.goto(h.base + '/ui/#/deliveries/' + d.id);
    await p.getByRole('button', { name: 'Replay' }).click();
    await p.getByText('Delivery #' + d.id + ' is due again now.').waitFor();
    await until(() => hook.requests.length === 2, 'the replay to arrive');
    // A new tab (a new browser session) asks again.
    const q = await page();
    await q.goto(h.base + '/ui/');
    await q.getByLabel('Token').waitFor();
    assert.deepEqual(p.errors, []);
  });

  test('the overview counts an hour of events past its first page with small reads', async () => {
    for (let i = 2; i <= 60; i++) await h.stage('web', i, i % 2 ? 'Passed' : 'Failed');
    const p = await page();
    await p.addInitScript((t) => sessionStorage.setItem('herald.api-token', t), TOKEN);
    const asked = [];
    p.on('request', (r) => { if (r.url().includes('/api/v1/events')) asked.push(new URL(r.url()).searchParams.get('limit')); });
    await p.goto(h.base + '/ui/');
    await p.locator('#events-per-minute').waitFor();
    assert.equal(await p.locator('#events-per-minute').textContent(), (60 / 60).toFixed(2));
    assert.ok(asked.every((l) => Number(l) <= 50), 'event pages of at most 50: ' + asked);
    assert.ok(asked.filter((l) => l === '1').length >= 2, 'it halved with one-row reads: ' + asked);
    assert.deepEqual(p.errors, []);
  });
});
