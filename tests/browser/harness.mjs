// The real parts the dashboard's browser tests drive: herald itself
// (HERALD_BIN, default build/herald) on loopback with its data in a fresh
// folder, a local HTTP server playing a webhook target, GoCD's real
// stage-status requests, and Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.HERALD_BIN || path.join(ROOT, 'build', 'herald');
const TEMPLATE = JSON.parse(fs.readFileSync(
  path.join(ROOT, 'tests/payloads/gocd/stage-status_v4_completed_failed.json'), 'utf8'));
// Where the screenshots and measurements go: build/ by default, so a test
// run leaves the tree clean; HERALD_SHOTS_DIR=docs/dashboard renews the
// ones docs/dashboard.md shows.
export const SHOTS = path.resolve(ROOT, process.env.HERALD_SHOTS_DIR || 'build/browser-shots');
fs.mkdirSync(SHOTS, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; fails after timeout ms. */
export async function until(fn, what, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(50);
  }
  throw new Error('timed out waiting for ' + what + ' (last: ' + (last && last.message ? last.message : JSON.stringify(last)) + ')');
}

/** A webhook target on 127.0.0.1: answers each request with the next
 * status of t.script (the last one repeats; a test may change it) and
 * keeps every request. */
export async function target(script) {
  const t = { requests: [], script };
  t.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const status = t.script[Math.min(t.requests.length, t.script.length - 1)];
      t.requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'target says no (' + status + ')');
    });
  });
  await new Promise((r) => t.server.listen(0, '127.0.0.1', r));
  t.url = 'http://127.0.0.1:' + t.server.address().port;
  t.stop = () => new Promise((r) => t.server.close(r));
  return t;
}

/** Starts herald with config (YAML text) and extra args; resolves once it
 * says its port. */
export async function herald(config, args = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ui-'));
  const cfg = path.join(dir, 'herald.yaml');
  fs.writeFileSync(cfg, config);
  const log = [];
  const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', path.join(dir, 'data'), '--config', cfg, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  const port = await until(() => {
    if (proc.exitCode !== null) throw new Error('herald exited: ' + log.join(''));
    const m = log.join('').match(/\(port (\d+)\)/);
    return m && Number(m[1]);
  }, 'herald to start');
  const h = { dir, port, proc, log, base: 'http://127.0.0.1:' + port, headers: {} };
  h.request = async (method, p, body) => {
    const headers = { ...h.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(h.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let data = text;
    try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: r.status, data };
  };
  h.get = async (p) => {
    const r = await h.request('GET', p);
    if (r.status !== 200) throw new Error('GET ' + p + ': ' + r.status + ' ' + JSON.stringify(r.data));
    return r.data;
  };
  /** One GoCD stage-status notification, as GoCD sends it. */
  h.stage = async (pipeline, counter, result) => {
    const b = structuredClone(TEMPLATE);
    b.pipeline.name = pipeline;
    b.pipeline.counter = String(counter);
    b.pipeline.stage.state = result;
    b.pipeline.stage.result = result;
    const r = await fetch(h.base + '/gocd/notification/stage-status', {
      method: 'POST', body: JSON.stringify(b),
      headers: { 'Content-Type': 'application/json', 'X-Go-Extension-Version': '4.0' } });
    const answer = await r.json();
    if (r.status !== 200) throw new Error('stage-status: ' + r.status + ' ' + JSON.stringify(answer));
  };
  h.deliveries = async (q) => (await h.get('/api/v1/deliveries?limit=500&' + new URLSearchParams(q))).deliveries;
  // A clean stop exits 0; under the sanitizers a leak or an error at
  // shutdown does not, and fails the suite.
  h.stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await until(() => proc.exitCode !== null || proc.signalCode !== null, 'herald to stop', 20000);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (proc.exitCode !== 0) throw new Error('herald exited ' + (proc.exitCode ?? proc.signalCode) + ':\n' + log.join('').slice(-4000));
  };
  return h;
}

/** A delivery config: fast retries, loopback targets allowed. */
export function config(targets, maxAttempts = 2) {
  return `delivery:
  max_attempts: ${maxAttempts}
  backoff_initial: 200ms
  backoff_max: 400ms
  connect_timeout: 500ms
  timeout: 1s
  allow: [127.0.0.0/8]
  # No circuit: a failing target's deliveries go dead at max_attempts, as
  # the pages' dead letters need (a circuit would hold them instead).
  circuit: {failures: 0}
targets:
${Object.entries(targets).map(([name, url]) => `  - name: ${name}\n    url: ${url}/hook/${name}\n`).join('')}
routes:
  - name: all
    targets: [${Object.keys(targets).join(', ')}]
`;
}

let browser = null;

/** A new page in the shared headless Chromium (Debian's), at 1280x800. */
export async function page() {
  if (!browser) {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await ctx.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e.message));
  return p;
}

export async function closeBrowser() {
  if (browser) await browser.close();
  browser = null;
}

export async function shot(p, name) {
  await p.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}
