// The dashboard's filters by transition and time, an attempt's request
// headers (secrets masked), the target page's test button, and what a page
// left open costs herald, in real headless Chromium against the real
// daemon. "hook" signs its requests and sends secret headers; "chat" and
// "down" are routed nothing and only get test events.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeBrowser, herald, page, shot, SHOTS, target, until } from './harness.mjs';

after(closeBrowser);

const SECRETS = ['auth-secret-value-1', 'key-secret-value-2', 'url-password-3', 'c2VjcmV0LWtleQ'];

function config(urls) {
  return `delivery:
  max_attempts: 2
  backoff_initial: 200ms
  backoff_max: 400ms
  timeout: 1s
  allow: [127.0.0.0/8]
targets:
  - name: hook
    url: ${urls.hook}/hook
    signing_secret: whsec_c2VjcmV0LWtleQ==
    headers:
      Authorization: "Bearer ${SECRETS[0]}"
      X-Api-Key: { value: "${SECRETS[1]}", secret: true }
      X-Callback: "https://ci:${SECRETS[2]}@ci.example.com/cb"
      X-Team: platform
  - name: chat
    url: ${urls.chat}/chat
  - name: down
    url: ${urls.down}/down
routes:
  - name: all
    targets: [hook]
`;
}

describe('filters, request headers and the test button', () => {
  let h, hook, chat, down;
  const times = {};

  before(async () => {
    hook = await target([500, 200]);
    chat = await target([200]);
    down = await target([503]);
    h = await herald(config({ hook: hook.url, chat: chat.url, down: down.url }), ['--insecure-local']);
    // passed, broken, still_failing, fixed; and another pipeline
    for (const [i, r] of [[1, 'Passed'], [2, 'Failed'], [3, 'Failed'], [4, 'Passed']]) {
      await h.stage('api', i, r);
      await new Promise((res) => setTimeout(res, 30));
    }
    await h.stage('web', 1, 'Passed');
    await until(async () => (await h.deliveries({ state: 'delivered', target: 'hook' })).length === 5, 'hook delivered 5');
    for (const e of (await h.get('/api/v1/events?limit=10')).events) times[e.summary.name + e.summary.number] = e.received_at;
  });

  after(async () => {
    await h.stop();
    await hook.stop();
    await chat.stop();
    await down.stop();
  });

  test('the events filter by transition lives in the address', async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/events');
    await until(async () => (await p.locator('tbody tr').count()) === 5, 'five events');
    await p.getByLabel('Transition').selectOption('broken');
    await p.getByRole('button', { name: 'Filter' }).click();
    await until(async () => (await p.locator('tbody tr').count()) === 1, 'one broken event');
    assert.match(p.url(), /#\/events\?transition=broken$/);
    assert.deepEqual(await p.locator('tbody tr td:nth-child(5)').allTextContents(), ['api/verify #2']);
    assert.deepEqual(await p.locator('tbody tr td:nth-child(7)').allTextContents(), ['broken']);
    // The same address in a new tab: the same rows and the filter shown.
    const q = await page();
    await q.goto(p.url());
    await until(async () => (await q.locator('tbody tr').count()) === 1, 'the shared link');
    assert.equal(await q.getByLabel('Transition').inputValue(), 'broken');
    await q.goto(h.base + '/ui/#/events?transition=still_failing&pipeline=api');
    await until(async () => /api\/verify #3/.test(await q.locator('tbody').textContent()), 'still failing');
    assert.equal(await q.locator('tbody tr').count(), 1);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(q.errors, []);
  });

  test('the events filter by time: the last hour, or from and to', async () => {
    const p = await page();
    const asked = [];
    p.on('request', (r) => { if (r.url().includes('/api/v1/events')) asked.push(new URL(r.url()).searchParams); });
    await p.goto(h.base + '/ui/#/events?range=1h');
    await until(async () => (await p.locator('tbody tr').count()) === 5, 'five events in the last hour');
    assert.equal(await p.getByLabel('Received in').inputValue(), '1h');
    assert.ok(asked.some((s) => s.get('since')), 'the API is asked with since');
    // From the broken event to the fixed one (until is exclusive): #2 and #3.
    const since = encodeURIComponent(times['api/verify2']);
    const untilT = encodeURIComponent(times['api/verify4']);
    await p.goto(h.base + '/ui/#/events?since=' + since + '&until=' + untilT);
    await until(async () => (await p.locator('tbody tr').count()) === 2, 'two events in the range');
    assert.deepEqual(await p.locator('tbody tr td:nth-child(5)').allTextContents(), ['api/verify #3', 'api/verify #2']);
    assert.notEqual(await p.getByLabel('Received after').inputValue(), '');
    assert.notEqual(await p.getByLabel('Received before').inputValue(), '');
    await shot(p, 'events-filtered');
    // Typed in the form, in the browser's zone, then shared.
    await p.goto(h.base + '/ui/#/events');
    await until(async () => (await p.locator('tbody tr').count()) === 5, 'all events');
    // The field's value as the browser normalises it (and Playwright's fill
    // insists on): the shortest form, so "…:44.320" is "…:44.32", "…:44.000"
    // is "…:44" and "…:00.000" is "…:00" minus its seconds.
    const local = (iso) => {
      const d = new Date(Date.parse(iso) - new Date().getTimezoneOffset() * 60000);
      return d.toISOString().replace('Z', '').replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '').replace(/:00$/, '');
    };
    await p.getByLabel('Received after').fill(local(times['api/verify4']));
    await p.getByLabel('Received after').press('Enter');
    await until(async () => (await p.locator('tbody tr').count()) === 2, 'the fixed event and web');
    assert.match(p.url(), /since=/);
    await p.goto(h.base + '/ui/#/events?since=' + encodeURIComponent(new Date(Date.now() + 3600e3).toISOString()));
    await p.getByText('No event matches.').waitFor();
    await p.goto(h.base + '/ui/#/events?since=soon-ish');
    await p.getByText('since: expected a time like').waitFor();
    assert.deepEqual(p.errors, []);
  });

  test('the deliveries filter by time', async () => {
    const list = await h.deliveries({ target: 'hook' });
    const p = await page();
    await p.goto(h.base + '/ui/#/deliveries?target=hook&since=' + encodeURIComponent(list[1].created_at));
    await until(async () => (await p.locator('tbody tr').count()) === 2, 'the two newest hook deliveries');
    await p.goto(h.base + '/ui/#/deliveries?range=24h&target=hook');
    await until(async () => (await p.locator('tbody tr').count()) === 5, 'all five in the last day');
    assert.equal(await p.getByLabel('Created in').inputValue(), '24h');
    assert.deepEqual(p.errors, []);
  });

  test("an attempt's request headers, with every secret masked", async () => {
    const first = (await h.deliveries({ target: 'hook' })).find((d) => d.attempts === 2);
    assert.ok(first, 'the hook delivery that failed once');
    // The target got the real values.
    assert.equal(hook.requests[0].headers.authorization, 'Bearer ' + SECRETS[0]);
    const p = await page();
    await p.goto(h.base + '/ui/#/deliveries/' + first.id);
    await p.getByRole('heading', { name: 'Attempts' }).waitFor();
    const rows = p.locator('table tbody tr');
    assert.equal(await rows.count(), 2);
    await rows.nth(0).locator('summary').click();
    const shown = await rows.nth(0).locator('details pre').textContent();
    assert.match(shown, /^Authorization: \*{8}$/m);
    assert.match(shown, /^X-Api-Key: \*{8}$/m);
    assert.match(shown, /^webhook-signature: \*{8}$/m);
    assert.match(shown, /^X-Callback: https:\/\/\*{8}@ci\.example\.com\/cb$/m);
    assert.match(shown, /^X-Team: platform$/m);
    assert.match(shown, /^Content-Type: application\/json$/m);
    const html = await p.content();
    for (const s of SECRETS) assert.ok(!html.includes(s), 'the page shows ' + s);
    await shot(p, 'delivery-headers');
    assert.deepEqual(p.errors, []);
  });

  test("the target's page sends a test event and shows its delivery and attempt", async () => {
    const p = await page();
    await p.goto(h.base + '/ui/#/targets');
    await p.getByRole('link', { name: 'chat', exact: true }).click();
    await p.getByRole('heading', { name: 'Target chat' }).waitFor();
    assert.match(p.url(), /#\/targets\/chat$/);
    await p.getByRole('button', { name: 'Send a test event' }).click();
    await p.locator('#test-outcome').waitFor();
    assert.match(await p.locator('#target-result').textContent(), /Test event #\d+ sent to chat as delivery #\d+/);
    assert.match(await p.locator('#test-outcome').textContent(), /Statedelivered.*Status200/);
    assert.equal(chat.requests.length, 1);
    const body = JSON.parse(chat.requests[0].body);
    assert.equal(body.source, 'herald');
    assert.equal(body.kind, 'test');
    assert.equal(body.test.target, 'chat');
    await shot(p, 'target');
    // The link goes to the delivery, which names its route "test".
    await p.locator('#target-result a').nth(1).click();
    await p.getByRole('heading', { name: /^Delivery #\d+$/ }).waitFor();
    assert.match(await p.locator('dl.facts').textContent(), /Routetest.*Targetchat/);
    // A failing target: the page says what it answered; nothing else got it.
    const hookBefore = hook.requests.length;
    await p.goto(h.base + '/ui/#/targets/down');
    await p.getByRole('button', { name: 'Send a test event' }).click();
    await p.locator('#test-outcome').waitFor();
    assert.match(await p.locator('#test-outcome').textContent(), /State(retrying|dead).*Status503.*target says no \(503\)/);
    // Clicking again sends a second test, and says so.
    await p.getByRole('button', { name: 'Send a test event' }).click();
    await until(() => down.requests.length >= 2, 'the second test');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.requests.length, hookBefore, 'a test went to another target');
    assert.equal(chat.requests.length, 1);
    assert.deepEqual(p.errors, []);
  });
});

/** herald's CPU time so far (user + system), in ms, from /proc. */
function cpuMs(pid) {
  const f = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; /* utime, stime: ticks of 10 ms */
}

/** herald's /api/v1 requests so far, by endpoint, from /metrics. */
async function apiRequests(h) {
  const text = await (await fetch(h.base + '/metrics')).text();
  const out = {};
  for (const m of text.matchAll(/^herald_http_requests_total\{endpoint="(api_[a-z_]+)",status="\d+"\} (\d+)$/gm)) out[m[1]] = (out[m[1]] || 0) + Number(m[2]);
  return out;
}

function diff(a, b) {
  const out = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if ((b[k] || 0) - (a[k] || 0)) out[k] = (b[k] || 0) - (a[k] || 0);
  return out;
}

describe('live cost', () => {
  test('what three pages left open for a minute cost herald, against none', async () => {
    const hook = await target([200]);
    const h = await herald(config({ hook: hook.url, chat: hook.url, down: hook.url }), ['--insecure-local']);
    for (let i = 1; i <= 30; i++) await h.stage('app' + (i % 3), i, i % 4 ? 'Passed' : 'Failed');
    await until(async () => (await h.deliveries({ state: 'delivered' })).length === 30, 'thirty delivered');
    const minute = 60000;
    const window = async () => {
      const [c0, r0] = [cpuMs(h.proc.pid), await apiRequests(h)];
      await new Promise((r) => setTimeout(r, minute));
      const [c1, r1] = [cpuMs(h.proc.pid), await apiRequests(h)];
      return { cpu_ms: c1 - c0, api_requests: diff(r0, r1) };
    };
    const closed = await window();
    const pages = [];
    for (const hash of ['', '#/events?transition=broken', '#/deliveries?range=24h']) {
      const p = await page();
      await p.goto(h.base + '/ui/' + hash);
      await p.locator('main h1').waitFor();
      await p.waitForLoadState('networkidle');
      pages.push(p);
    }
    const open = await window();
    for (const p of pages) await p.context().close();
    await h.stop();
    await hook.stop();
    const calls = Object.values(open.api_requests).reduce((a, b) => a + b, 0);
    // The overview once a minute, each list every 15 s: about 9 calls.
    assert.ok(calls >= 7 && calls <= 11, 'three idle pages made ' + calls + ' calls: ' + JSON.stringify(open.api_requests));
    assert.deepEqual(closed.api_requests, {});
    // Each call is one indexed read of at most one row (two for a delivery
    // and its attempts): herald's CPU stays near what it spends idle.
    assert.ok(open.cpu_ms <= closed.cpu_ms + 500, 'open ' + open.cpu_ms + ' ms, closed ' + closed.cpu_ms + ' ms');
    const out = { window_ms: minute, pages: ['overview', 'events?transition=broken', 'deliveries?range=24h'], closed, open };
    fs.writeFileSync(path.join(SHOTS, 'live-cost.json'), JSON.stringify(out, null, 2) + '\n');
  });
});
