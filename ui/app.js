/*
 * herald's dashboard: one page that reads and acts through /api/v1 only,
 * as `herald replay` and curl do. The address after '#' names the page and
 * its filters, so a link can be copied and shared. Everything shown is
 * put in the page as text (never parsed as HTML): events carry what CI
 * servers sent. The target pages live in targets.js (an ES module, as
 * this file is).
 */
'use strict';

import { targetPages } from '/ui/targets.js';

(function () {
  /* Framed by another page, the dashboard shows nothing: a frame could
   * trick a click on a replay button. */
  if (window.top !== window.self) {
    document.documentElement.textContent = 'herald\'s dashboard does not open inside a frame.';
    return;
  }

  const TOKEN_KEY = 'herald.api-token';
  /* Polling: a list page asks for its newest row every POLL_MS while the
   * tab is visible, and nothing while it is hidden; the overview checks
   * once a minute, as its counts scan the last day's deliveries
   * (docs/dashboard.md). */
  const POLL_MS = 15000;
  const OVERVIEW_POLL_MS = 60000;
  const PAGE = 50;
  const view = document.getElementById('view');
  const live = document.getElementById('live');
  let pollTimer = null;
  let generation = 0; /* bumped on every navigation; stale answers are dropped */

  /* ---- small helpers ---- */

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  /* A stored instant in the browser's zone; the UTC instant on hover. */
  function when(iso) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    const d = new Date(iso);
    if (isNaN(d)) return document.createTextNode(iso);
    const text = d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit' });
    return h('time', { datetime: iso, title: 'UTC ' + d.toISOString() }, text);
  }

  function label(cls, text) {
    return h('span', { class: 'state ' + String(cls || '').toLowerCase().replace(/[^a-z]/g, '') }, text || '—');
  }

  function link(hash, text) { return h('a', { href: '#' + hash }, text); }

  function table(heads, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing yet.');
    return h('div', { class: 'wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col', class: /^#|count|^(pending|retrying|delivered|dead|failures)/i.test(t) ? 'num' : null }, t)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', { class: typeof c === 'number' ? 'num' : null }, c)))))));
  }

  function say(text, ok) {
    const m = document.getElementById('message');
    m.textContent = text;
    m.className = ok ? 'ok' : '';
    m.hidden = !text;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }

  /* ---- the API ---- */

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  /* One /api/v1 call; the token goes as a header, never in the address.
   * A 401 shows the token prompt. */
  async function api(path, body) {
    const headers = {};
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    const opt = { headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      opt.method = 'POST';
      headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    const r = await fetch('/api/v1' + path, opt);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401) {
      askToken(t ? 'herald refused that token.' : '');
      throw new ApiError(401, 'herald wants its API token');
    }
    if (!r.ok) {
      let msg = (data && data.error) || ('HTTP ' + r.status);
      if (data && data.messages) msg += ': ' + data.messages.join('; ');
      throw new ApiError(r.status, msg);
    }
    return data;
  }

  function askToken(error) {
    const form = document.getElementById('token');
    document.getElementById('token-error').textContent = error || '';
    form.hidden = false;
    view.hidden = true;
    stopPolling();
    form.elements.token.value = '';
    form.elements.token.focus();
  }

  document.getElementById('token').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const t = form.elements.token.value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    try {
      await api('/targets/health?window=60');
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        document.getElementById('token-error').textContent = 'herald refused that token.';
      } else {
        document.getElementById('token-error').textContent = e.message;
      }
      return;
    }
    form.hidden = true;
    view.hidden = false;
    document.getElementById('forget').hidden = false;
    route();
  });

  document.getElementById('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    document.getElementById('forget').hidden = true;
    askToken('');
  });

  /* ---- live updates ---- */

  /* After an action: draws the page again a second later, to show the
   * outcome, unless the user went elsewhere meanwhile. */
  function refreshSoon() {
    const gen = generation;
    setTimeout(() => { if (gen === generation && !busy()) route(true); }, 1000);
  }

  /* Whether the user is in the middle of something a redraw would drop:
   * a bulk replay waiting for its confirmation. */
  function busy() { return document.getElementById('bulk-ask') !== null; }

  function stopPolling() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
  }

  /* Calls check() every ms while the tab is visible; check returns
   * whether the page changed (then it is drawn again). */
  function poll(check, ms = POLL_MS) {
    stopPolling();
    const gen = generation;
    const tick = async () => {
      if (gen !== generation) return;
      if (!document.hidden && !busy()) {
        try {
          if (await check()) { if (gen === generation) route(true); return; }
          live.textContent = 'live · checked ' + new Date().toLocaleTimeString();
        } catch (e) {
          live.textContent = 'live · ' + e.message;
        }
      }
      if (gen === generation) pollTimer = setTimeout(tick, ms);
    };
    pollTimer = setTimeout(tick, ms);
  }

  /* The keyboard: "/" goes to the page's first filter, as in most lists. */
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) return;
    const first = view.querySelector('form.filters input, form.filters select');
    if (first) { ev.preventDefault(); first.focus(); }
  });

  /* ---- pages ---- */

  /* A time from the address as a datetime-local field shows it: the
   * browser's zone, no offset. */
  function localInput(text) {
    const t = Date.parse(text || '');
    if (isNaN(t)) return '';
    const d = new Date(t - new Date(t).getTimezoneOffset() * 60000);
    return d.toISOString().replace('Z', '');
  }

  function filterForm(fields, params, base) {
    const form = h('form', { class: 'filters', role: 'search' },
      fields.map(([name, text, options, type]) => h('label', {}, text,
        options
          ? h('select', { name }, options.map((o) => {
            const [v, t] = Array.isArray(o) ? o : [o, o || 'any'];
            return h('option', { value: v, selected: (params.get(name) || '') === v }, t);
          }))
          : h('input', { name, type: type || 'text', step: type ? 0.001 : null, size: 14,
            value: type ? localInput(params.get(name)) : params.get(name) || '' }))),
      h('button', { type: 'submit', class: 'primary' }, 'Filter'),
      link(base, 'Clear'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = {};
      for (const [name] of fields) q[name] = form.elements[name].value.trim();
      location.hash = base + query(q);
    });
    return form;
  }

  function pager(base, params, next) {
    const newer = params.get('cursor');
    const p = Object.fromEntries(params);
    delete p.cursor;
    return h('div', { class: 'pager' },
      newer ? link(base + query(p), '← Newest') : null,
      next ? link(base + query({ ...p, cursor: next }), 'Older →') : h('span', { class: 'muted' }, 'No older rows'));
  }

  /* Every event's summary has the same four fields, whatever the CI
   * (docs/events.md): name, number, result, url. */
  function eventName(e) {
    const s = e.summary || {};
    return s.name ? s.name + (s.number ? ' #' + s.number : '') : (e.kind || '');
  }

  function eventResult(e) {
    return (e.summary && e.summary.result) || '';
  }

  const TRANSITIONS = ['', 'broken', 'fixed', 'still_failing', 'failed', 'failing', 'passed', 'building', 'cancelled', 'unknown'];
  /* "In the last ..." (range in the address): relative, so a shared link
   * shows the last hour when it is opened. */
  const RANGES = [['', 'any time'], ['1h', 'last hour'], ['24h', 'last day'], ['7d', 'last week']];
  const RANGE_MS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

  const EVENT_FILTERS = [
    ['source', 'Source', ['', 'gocd', 'jenkins', 'ci', 'package', 'herald']],
    ['kind', 'Kind'], ['pipeline', 'Pipeline or job'], ['stage', 'Stage'],
    ['result', 'Result'], ['transition', 'Transition', TRANSITIONS], ['warnings', 'Warnings', ['', 'true']],
    ['range', 'Received in', RANGES],
    ['since', 'Received after', null, 'datetime-local'],
    ['until', 'Received before', null, 'datetime-local'],
  ];

  /* A time of the address (the browser's zone unless it says Z) as ms, or
   * null; a time that does not parse is an error the page shows. */
  function timeMs(params, name) {
    const u = params.get(name);
    if (!u) return null;
    const t = Date.parse(u);
    if (isNaN(t)) throw new Error(name + ': expected a time like 2026-12-03T16:00; got ' + u);
    return t;
  }

  /* The filter's time range as the API takes it (since, until: UTC
   * instants); herald turns each into an id bound with one index seek. */
  function timeRange(params) {
    const r = params.get('range');
    if (r && !RANGE_MS[r]) throw new Error('range: expected 1h, 24h or 7d; got ' + r);
    const since = r ? Date.now() - RANGE_MS[r] : timeMs(params, 'since');
    const until = timeMs(params, 'until');
    const iso = (t) => t === null ? null : new Date(t).toISOString();
    return { since: iso(since), until: iso(until) };
  }

  /* The newest id of a list, for a poll that asks only for what is newer
   * ("after"): so a sparse filter that matches nothing costs no walk. */
  async function newestId(path, key) {
    const d = await api(path + '?limit=1');
    return d[key].length ? d[key][0].id : 0;
  }

  async function pageEvents(params) {
    const q = timeRange(params);
    for (const [k] of EVENT_FILTERS) if (!['range', 'since', 'until'].includes(k)) q[k] = params.get(k);
    const cursor = params.get('cursor');
    const data = await api('/events' + query({ ...q, limit: PAGE, cursor }));
    const rows = data.events.map((e) => [link('/events/' + e.id, '#' + e.id), when(e.received_at), e.source, e.kind,
      eventName(e), label(eventResult(e), eventResult(e)), label(e.transition, e.transition)]);
    const out = [h('h1', {}, 'Events'), filterForm(EVENT_FILTERS, params, '/events'),
      table(['#', 'Received', 'Source', 'Kind', 'Pipeline or job', 'Result', 'Transition'], rows, 'No event matches.'),
      pager('/events', params, data.next_cursor)];
    if (!cursor && !q.until) {
      /* Live: only events newer than the page's newest, under its filter. */
      const top = data.events.length ? data.events[0].id : await newestId('/events', 'events');
      poll(async () => (await api('/events' + query({ ...q, limit: 1, after: top || null }))).events.length > 0);
    }
    return out;
  }

  function pretty(v) { return JSON.stringify(v, null, 2); }

  async function pageEvent(id) {
    const [data, dl] = await Promise.all([api('/events/' + id), api('/deliveries' + query({ event: id, limit: 500 }))]);
    const e = data.event;
    let raw = data.raw;
    if (typeof raw === 'string') { try { raw = pretty(JSON.parse(raw)); } catch (x) { /* shown as sent */ } } else raw = pretty(raw);
    return [h('h1', {}, 'Event #' + e.id),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Received'), h('dd', {}, when(e.received_at)),
        h('dt', {}, 'Source'), h('dd', {}, e.source + ' · ' + e.kind + (e.version ? ' v' + e.version : '')),
        h('dt', {}, 'Pipeline or job'), h('dd', {}, eventName(e) || '—'),
        h('dt', {}, 'Result'), h('dd', {}, label(eventResult(e), eventResult(e))),
        h('dt', {}, 'Transition'), h('dd', {}, label(e.transition, e.transition)),
        h('dt', {}, 'In the CI'), h('dd', {}, e.summary && /^https?:\/\//.test(e.summary.url || '') ? h('a', { href: e.summary.url, rel: 'noreferrer noopener', target: '_blank' }, e.summary.url) : '—')),
      h('h2', {}, 'Deliveries'), deliveryTable(dl.deliveries, 'No route sent this event anywhere.'),
      h('h2', {}, 'Normalised'), h('pre', { tabindex: 0 }, pretty(e)),
      h('h2', {}, 'Received (redacted)'), h('pre', { tabindex: 0 }, raw === undefined ? '—' : raw)];
  }

  function replayButton(d) {
    return h('button', { type: 'button', 'data-replay': d.id, onclick: async (ev) => {
      const b = ev.currentTarget;
      b.disabled = true;
      try {
        await api('/deliveries/' + d.id + '/retry', {});
        say('Delivery #' + d.id + ' is due again now.', true);
        refreshSoon();
      } catch (e) { say('Replay of #' + d.id + ' failed: ' + e.message); }
      b.disabled = false;
    } }, 'Replay');
  }

  function deliveryTable(list, empty) {
    return table(['#', 'Event', 'Target', 'State', 'Attempts', 'Last status', 'Last error', 'Updated', 'Next attempt', ''],
      list.map((d) => [link('/deliveries/' + d.id, '#' + d.id), link('/events/' + d.event_id, '#' + d.event_id),
        link('/deliveries' + query({ target: d.target }), d.target), label(d.state, d.state), d.attempts,
        d.last_status === null ? '—' : String(d.last_status), d.last_error || '', when(d.updated_at),
        when(d.next_attempt_at), replayButton(d)]), empty);
  }

  /* Every state the API takes (src/api/api.c): skipped and superseded
   * were never sent (their last error says why), dropped by an operator. */
  const STATES = ['', 'pending', 'retrying', 'delivered', 'dead', 'skipped', 'superseded', 'dropped'];

  /* What POST /deliveries/replay can replay of a list filter: its body,
   * or null when the API has no such condition (pending, retrying,
   * delivered, or one event's deliveries). */
  function replayBody(params) {
    const state = params.get('state') || '';
    const target = params.get('target') || '';
    if (params.get('event') || params.get('cursor')) return null;
    const range = timeRange(params);
    const body = {};
    if (range.since) body.since = range.since;
    if (range.until) body.until = range.until;
    if (target) body.target = target;
    if (state === 'dead') body.dead = true;
    else if (state !== '' || !target) return null;
    return body;
  }

  async function countMatching(params) {
    let n = 0;
    let cursor = null;
    const q = { state: params.get('state'), target: params.get('target'), ...timeRange(params) };
    for (let pages = 0; pages < 40; pages++) {
      const d = await api('/deliveries' + query({ ...q, limit: 500, cursor }));
      n += d.deliveries.length;
      if (!d.next_cursor) return n;
      cursor = d.next_cursor;
    }
    return n + '+';
  }

  function bulkReplay(params) {
    const body = replayBody(params);
    const box = h('div', { class: 'actions' });
    if (!body) {
      box.append(h('span', { class: 'muted' }, 'Replay all: filter dead letters (any target) or one target (every state), from the first page.'));
      return box;
    }
    const start = h('button', { type: 'button', id: 'bulk-replay' }, 'Replay all matching…');
    start.addEventListener('click', async () => {
      start.disabled = true;
      let n;
      try { n = await countMatching(params); } catch (e) { say(e.message); start.disabled = false; return; }
      const what = body.dead ? 'dead deliveries' : 'deliveries (every state)';
      const confirm = h('button', { type: 'button', class: 'primary', id: 'bulk-confirm' }, 'Replay ' + n);
      const cancel = h('button', { type: 'button', id: 'bulk-cancel' }, 'Cancel');
      const ask = h('span', { id: 'bulk-ask' }, 'This makes ' + n + ' ' + what + (body.target ? ' to ' + body.target : '') +
        (body.since ? ' created after ' + new Date(body.since).toLocaleString() : '') +
        (body.until ? ' created before ' + new Date(body.until).toLocaleString() : '') + ' due again now. ', confirm, ' ', cancel);
      box.replaceChildren(ask);
      confirm.focus();
      cancel.addEventListener('click', () => box.replaceWith(bulkReplay(params)));
      confirm.addEventListener('click', async () => {
        confirm.disabled = cancel.disabled = true;
        try {
          const r = await api('/deliveries/replay', body);
          say('Replayed ' + r.reset + ' deliveries.', true);
          refreshSoon();
        } catch (e) { say('Replay failed: ' + e.message); }
        box.replaceWith(bulkReplay(params));
      });
    });
    box.append(start);
    return box;
  }

  async function pageDeliveries(params) {
    const cfg = await configTargets();
    const filters = [['state', 'State', STATES], ['target', 'Target', [''].concat(cfg.map((t) => t.name))], ['event', 'Event #'],
      ['range', 'Created in', RANGES], ['since', 'Created after', null, 'datetime-local'],
      ['until', 'Created before', null, 'datetime-local']];
    const q = { state: params.get('state'), target: params.get('target'), event: params.get('event'), ...timeRange(params) };
    const cursor = params.get('cursor');
    const data = await api('/deliveries' + query({ ...q, limit: PAGE, cursor }));
    if (!cursor && !q.until) {
      /* Live: one row from the page's newest on (after = its id - 1): a
       * newer delivery, or the newest's new state or attempts. */
      const sig = data.deliveries.slice(0, 1).map((d) => d.id + d.state + d.attempts).join();
      const top = data.deliveries.length ? data.deliveries[0].id - 1 : await newestId('/deliveries', 'deliveries');
      poll(async () => {
        const d = await api('/deliveries' + query({ ...q, limit: 1, after: top || null }));
        return d.deliveries.map((x) => x.id + x.state + x.attempts).join() !== sig;
      });
    }
    return [h('h1', {}, 'Deliveries'), filterForm(filters, params, '/deliveries'), bulkReplay(params),
      deliveryTable(data.deliveries, 'No delivery matches.'), pager('/deliveries', params, data.next_cursor)];
  }

  /* Why a delivery was never sent (skipped, superseded, dropped), as its
   * last error says; "superseded by delivery N" links to N. */
  function why(text) {
    const m = /^(.*superseded by delivery )(\d+)(.*)$/.exec(text);
    return m ? [m[1], link('/deliveries/' + m[2], m[2]), m[3]] : text;
  }

  /* An ordered delivery's place: how many older ones with its key wait
   * before it (null once it waits no more). */
  function queuePlace(n) {
    if (n === null || n === undefined) return 'not waiting';
    if (n === 0) return 'first: the next of its key to be sent';
    return n === 1 ? '1 older delivery with its key waits before it' : n + ' older deliveries with its key wait before it';
  }

  async function pageDelivery(id) {
    const d = await api('/deliveries/' + id);
    const waiting = d.state === 'pending' || d.state === 'retrying';
    if (waiting) {
      const sig = d.state + d.attempts;
      poll(async () => { const x = await api('/deliveries/' + id); return x.state + x.attempts !== sig; });
    }
    const held = waiting ? await targets.heldNote(d) : null;
    const fact = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    const attempts = (d.attempt_log || []).map((a) => [a.attempt, when(a.started_at), a.status === null ? '—' : String(a.status),
      a.latency_ms === null || a.latency_ms === undefined ? '—' : a.latency_ms + ' ms', label(a.outcome, a.outcome),
      a.error || '', a.excerpt ? h('pre', {}, a.excerpt) : '', requestHeaders(a.request_headers)]);
    return [h('h1', {}, 'Delivery #' + d.id),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Event'), h('dd', {}, link('/events/' + d.event_id, '#' + d.event_id)),
        h('dt', {}, 'Route'), h('dd', {}, d.route || '—'),
        h('dt', {}, 'Target'), h('dd', {}, link('/targets/' + encodeURIComponent(d.target), d.target)),
        h('dt', {}, 'State'), h('dd', {}, label(d.state, d.state)),
        ['skipped', 'superseded', 'dropped'].includes(d.state) ? fact('Why', why(d.last_error || '—')) : null,
        d.subject ? fact('Reports on', h('code', {}, d.subject)) : null,
        d.order_key !== null && d.order_key !== undefined ? [fact('Order key', h('code', {}, d.order_key)),
          fact('Place in queue', queuePlace(d.queue_position))] : null,
        h('dt', {}, 'Created'), h('dd', {}, when(d.created_at)),
        h('dt', {}, 'Updated'), h('dd', {}, when(d.updated_at)),
        h('dt', {}, 'Next attempt due'), h('dd', {}, d.next_attempt_at ? when(d.next_attempt_at) : (d.state === 'pending' ? 'now' : 'none'))),
      ...(held ? [held] : []),
      h('div', { class: 'actions' }, replayButton(d)),
      h('h2', {}, 'Attempts'),
      table(['#', 'Started', 'Status', 'Latency', 'Outcome', 'Error', 'Answer (excerpt)', 'Request headers'], attempts, 'No attempt yet.')];
  }

  /* An attempt's request headers as herald recorded them: secrets were
   * masked before they reached the store (docs/dashboard.md). */
  function requestHeaders(list) {
    if (!list || !list.length) return h('span', { class: 'muted' }, '—');
    return h('details', { class: 'headers' }, h('summary', {}, list.length + ' headers'),
      h('pre', {}, list.map((x) => x.name + ': ' + x.value).join('\n')));
  }

  let configCache = null;
  async function configTargets() {
    if (!configCache) configCache = (await api('/config')).targets || [];
    return configCache;
  }

  function healthByTarget(list) { return Object.fromEntries(list.map((t) => [t.target, t])); }

  async function pageOverview() {
    const [hour, day, stages, jobs, events, targets] = await Promise.all([
      api('/targets/health?window=3600'), api('/targets/health?window=86400'),
      api('/stages?last_result=Failed&limit=' + BROKEN_PAGE), api('/jobs?last_result=Failed&limit=' + BROKEN_PAGE),
      api('/events?limit=' + RATE_PAGE), configTargets()]);
    const now = Date.now();
    const [lastHour, last5] = await Promise.all([eventsSince(events, now - 3600e3), eventsSince(events, now - 300e3)]);
    const H = healthByTarget(hour.targets), D = healthByTarget(day.targets);
    const names = [...new Set(targets.map((t) => t.name).concat(day.targets.map((t) => t.target)))];
    const zero = { pending: 0, retrying: 0, delivered: 0, dead: 0 };
    const failing = names.filter((n) => (H[n] || zero).retrying > 0 || (H[n] || zero).dead > 0);
    /* Only what is red, one page each (the API filters by last result). */
    const broken = stages.stages, brokenJobs = jobs.jobs || [];
    const more = stages.next_cursor || jobs.next_cursor ? '+' : '';
    const sinceCells = await Promise.all(broken.slice(0, 10).map((s) => brokenSince(s)));

    const t = (n, w, k) => { const v = (w[n] || zero)[k]; return v; };
    const cards = h('div', { class: 'cards', id: 'cards' },
      h('div', { class: 'card' }, h('b', { id: 'events-per-minute' }, (lastHour / 60).toFixed(2)), 'events per minute (last hour)'),
      h('div', { class: 'card' }, h('b', {}, (last5 / 5).toFixed(1)), 'events per minute (last 5 min)'),
      h('div', { class: 'card' }, h('b', { class: failing.length ? 'bad' : 'ok' }, failing.length), 'targets failing now'),
      h('div', { class: 'card' }, h('b', { class: broken.length + brokenJobs.length ? 'bad' : 'ok' }, (broken.length + brokenJobs.length) + more), 'pipelines and jobs broken'));
    const top = events.events.length ? events.events[0].id : 0;
    poll(async () => (await api('/events' + query({ limit: 1, after: top || null }))).events.length > 0, OVERVIEW_POLL_MS);
    return [h('h1', {}, 'Overview'), cards,
      h('h2', {}, 'Deliveries per target'),
      h('div', { id: 'per-target' }, table(['Target', 'Pending now', 'Retrying now', 'Delivered 1 h', 'Dead 1 h', 'Delivered 24 h', 'Dead 24 h', 'Last error'],
        names.map((n) => [link('/deliveries' + query({ target: n }), n), t(n, H, 'pending'), t(n, H, 'retrying'), t(n, H, 'delivered'),
          t(n, H, 'dead'), t(n, D, 'delivered'), t(n, D, 'dead'), (D[n] && D[n].last_error) || '']), 'No target configured.')),
      h('h2', {}, 'Targets failing now'),
      failing.length ? h('ul', {}, failing.map((n) => h('li', {}, link('/deliveries' + query({ target: n, state: H[n].dead ? 'dead' : 'retrying' }), n),
        ' — ' + H[n].retrying + ' retrying, ' + H[n].dead + ' dead in the last hour; ' + (H[n].last_error || '')))) : h('p', { class: 'ok' }, 'None.'),
      h('h2', {}, 'Broken now'),
      table(['Pipeline or job', 'Last result', 'Broken since', 'Last event'],
        broken.map((s, i) => [link('/events' + query({ pipeline: s.pipeline, stage: s.stage }), s.pipeline + ' / ' + s.stage), label(s.last_result, s.last_result),
          sinceCells[i] || h('span', { class: 'muted' }, 'see events'), link('/events/' + s.last_event_id, '#' + s.last_event_id)])
          .concat(brokenJobs.map((j) => [link('/events' + query({ pipeline: j.job }), [j.job, j.branch].filter(Boolean).join(' / ')), label(j.last_result, j.last_result),
            when(j.updated_at), j.last_event_id ? link('/events/' + j.last_event_id, '#' + j.last_event_id) : '—'])), 'Nothing is broken.')];
  }

  const RATE_PAGE = 50;
  /* The broken stages and jobs the overview lists at most, each. */
  const BROKEN_PAGE = 500;

  /* How many events herald received since `since` (ms), given the newest
   * page of events. Counted on that page when it reaches past `since`;
   * else found by halving over event ids with one-row reads (ids grow by
   * one per event), so a busy herald sends a few small answers rather
   * than an hour of events. */
  async function eventsSince(page, since) {
    const list = page.events;
    const inside = list.filter((e) => Date.parse(e.received_at) >= since);
    if (inside.length < list.length || !page.next_cursor) return inside.length;
    let lo = 0; /* every id <= lo is older than since */
    let hi = list[list.length - 1].id; /* an event at or after since */
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const d = await api('/events' + query({ limit: 1, cursor: mid + 1 }));
      const e = d.events[0];
      if (e && Date.parse(e.received_at) >= since) hi = e.id;
      else lo = mid;
    }
    return list[0].id - hi + 1;
  }

  /* When a red stage went red: the oldest of its newest run of failed
   * events (one page of its events). */
  async function brokenSince(s) {
    const d = await api('/events' + query({ pipeline: s.pipeline, stage: s.stage, limit: 50 }));
    let since = null;
    for (const e of d.events) {
      const r = eventResult(e);
      if (/fail/i.test(r)) since = e.received_at;
      else if (/pass/i.test(r)) break;
    }
    return since ? when(since) : null;
  }

  /* One page (500) of stages and one of jobs, in name order; a pager per
   * list when it goes on (?stages= and ?jobs= carry their cursors). */
  async function pagePipelines(params) {
    const sc = params.get('stages'), jc = params.get('jobs');
    const [stages, jobs] = await Promise.all([api('/stages' + query({ limit: 500, cursor: sc })),
      api('/jobs' + query({ limit: 500, cursor: jc }))]);
    const next = (key, cursor) => cursor ? h('div', { class: 'pager' },
      link('/pipelines' + query({ ...Object.fromEntries(params), [key]: cursor }), 'More →')) : null;
    const colour = (r) => /fail|broken/i.test(r || '') ? 'red' : /pass|success|fixed/i.test(r || '') ? 'green' : 'amber';
    const tile = (name, result, at, q, id) => h('div', { class: 'tile ' + colour(result) },
      h('div', { class: 'name' }, link('/events' + query(q), name)),
      label(result, result), ' ', when(at), id ? [' · ', link('/events/' + id, 'event #' + id)] : null);
    return [h('h1', {}, 'Pipelines and jobs'),
      h('h2', {}, 'GoCD stages'),
      stages.stages.length ? h('div', { class: 'board' }, stages.stages.map((s) => tile(s.pipeline + ' / ' + s.stage + ' #' + s.last_counter, s.last_result || s.last_state, s.updated_at, { pipeline: s.pipeline, stage: s.stage }, s.last_event_id))) : h('p', { class: 'muted' }, 'No stage yet.'),
      next('stages', stages.next_cursor),
      h('h2', {}, 'Jobs'),
      (jobs.jobs || []).length ? h('div', { class: 'board' }, jobs.jobs.map((j) => tile([j.job, j.branch].filter(Boolean).join(' / ') + (j.last_number ? ' #' + j.last_number : ''), j.last_result || j.last_phase, j.updated_at, { pipeline: j.job }, j.last_event_id))) : h('p', { class: 'muted' }, 'No job yet.'),
      next('jobs', jobs.next_cursor)];
  }

  /* ---- the router ---- */

  const targets = targetPages({ h, when, label, link, table, say, api, query, configTargets, healthByTarget, deliveryTable,
    redraw: () => route(true), current: () => generation });

  const ROUTES = [
    [/^\/?$/, 'overview', () => pageOverview()],
    [/^\/events$/, 'events', (m, p) => pageEvents(p)],
    [/^\/events\/(\d+)$/, 'events', (m) => pageEvent(m[1])],
    [/^\/deliveries$/, 'deliveries', (m, p) => pageDeliveries(p)],
    [/^\/deliveries\/(\d+)$/, 'deliveries', (m) => pageDelivery(m[1])],
    [/^\/targets$/, 'targets', () => targets.pageTargets()],
    [/^\/targets\/([^/]+)$/, 'targets', (m) => targets.pageTarget(decodeURIComponent(m[1]))],
    [/^\/pipelines$/, 'pipelines', (m, p) => pagePipelines(p)],
  ];

  async function route(refresh) {
    const gen = ++generation;
    stopPolling();
    if (!refresh) say('');
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, qs] = hash.split('?');
    const params = new URLSearchParams(qs || '');
    let found = null;
    for (const [re, page, fn] of ROUTES) {
      const m = path.match(re);
      if (m) { found = [page, fn, m]; break; }
    }
    for (const a of document.querySelectorAll('nav a')) {
      if (found && a.dataset.page === found[0]) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    if (!found) { view.replaceChildren(h('h1', {}, 'No such page'), link('/', 'Overview')); return; }
    if (!refresh) view.setAttribute('aria-busy', 'true');
    try {
      const nodes = await found[1](found[2], params);
      if (gen !== generation) return;
      const y = window.scrollY;
      view.replaceChildren(...nodes);
      document.title = (nodes[0].textContent || 'herald') + ' · herald';
      if (refresh) window.scrollTo(0, y); else view.focus({ preventScroll: true });
    } catch (e) {
      if (gen !== generation || e.status === 401) return;
      view.replaceChildren(h('h1', {}, 'Could not load this page'), h('p', { class: 'error' }, e.message));
    } finally {
      view.removeAttribute('aria-busy');
    }
  }

  window.addEventListener('hashchange', () => route(false));
  document.getElementById('forget').hidden = !token();
  route(false);
})();
