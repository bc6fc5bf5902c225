/*
 * The dashboard's target pages: every target with its health record
 * (GET /api/v1/targets: one small read whatever the backlog), one
 * target's page, and what an operator does to a target: pause, resume and
 * enable (POST /api/v1/targets/NAME/ACTION, the calls `herald target
 * pause|resume|enable NAME` makes) and send it a test event. app.js hands
 * in its helpers, so this file holds only what is about targets.
 */
'use strict';

export function targetPages(ui) {
  const { h, when, label, link, table, say, api, query } = ui;

  /* What each state means for the target's deliveries (docs/operating.md,
   * "Target health"). */
  const MEANING = {
    healthy: 'delivering',
    failing: 'failing: its deliveries are retried',
    open: 'circuit open: its deliveries are held; herald probes it now and then',
    paused: 'paused by an operator: its deliveries are held until it is resumed',
    disabled: 'disabled: its deliveries are held until it is enabled',
  };
  const HOLDS = ['open', 'paused', 'disabled'];

  function address(t) { return t ? ((t.method || '') + ' ' + (t.url || t.api_url || '')).trim() || '—' : 'not in the configuration'; }

  /* Since when the record is in its state, where it keeps that time: a
   * failing or open target since its first failure in a row, a disabled
   * one since the failure that disabled it. The record keeps no time for
   * a pause (its target-health event does). */
  function since(r) {
    if (r.state === 'failing' || r.state === 'open') return r.failing_since;
    if (r.state === 'disabled') return r.last_failure_at;
    return null;
  }

  /* The buttons for a record: Pause or Resume by its pause, Enable when
   * disabled. Each is safe to click twice: a second pause (say from an
   * older tab) changes nothing, and the button waits for the answer. */
  function actions(r) {
    if (!r.configured) return [];
    return [r.paused ? actButton(r.name, 'resume', 'Resume') : actButton(r.name, 'pause', 'Pause'),
      r.disabled ? actButton(r.name, 'enable', 'Enable') : null];
  }

  function outcome(action, r) {
    const state = 'Target ' + r.name + ' is ' + r.state;
    if (action === 'pause') return state + ': its deliveries are held until it is resumed.';
    if (r.state === 'healthy' || r.state === 'failing') return state + ': what it held is due now.';
    return state + ' (' + MEANING[r.state] + ').';
  }

  function actButton(name, action, text) {
    return h('button', { type: 'button', 'data-action': action, 'data-target': name, onclick: async (ev) => {
      const b = ev.currentTarget;
      b.disabled = true;
      try {
        const r = await api('/targets/' + encodeURIComponent(name) + '/' + action, {});
        say(outcome(action, r), true);
        ui.redraw();
      } catch (e) {
        say(text + ' ' + name + ' failed: ' + e.message);
        b.disabled = false;
      }
    } }, text);
  }

  function stateLabel(r) { return h('span', { title: MEANING[r.state] || '' }, label(r.state, r.state)); }

  /* A waiting delivery's page: whether its target holds it, in words. */
  async function heldNote(d) {
    let r = null;
    try { r = await api('/targets/' + encodeURIComponent(d.target)); } catch (e) { return null; }
    if (!HOLDS.includes(r.state)) return null;
    return h('p', { class: 'warn', id: 'held' }, 'Held: target ', link('/targets/' + encodeURIComponent(r.name), r.name),
      ' is ' + MEANING[r.state] + '.');
  }

  async function pageTargets() {
    const [cfg, recs, day] = await Promise.all([ui.configTargets(), api('/targets'), api('/targets/health?window=86400')]);
    const C = Object.fromEntries(cfg.map((t) => [t.name, t]));
    const D = ui.healthByTarget(day.targets);
    const rows = recs.targets.map((r) => {
      const dd = D[r.name] || {};
      return [link('/targets/' + encodeURIComponent(r.name), r.name), r.type + ' · ' + address(C[r.name]),
        [stateLabel(r), r.next_probe_at ? [h('br'), 'next probe ', when(r.next_probe_at)] : null],
        since(r) ? when(since(r)) : '—', r.consecutive_failures, when(r.last_success_at), r.last_error || '',
        dd.delivered || 0, dd.dead || 0, h('span', { class: 'buttons' }, actions(r))];
    });
    return [h('h1', {}, 'Targets'),
      table(['Target', 'Type and address', 'State', 'Since', 'Failures', 'Last success', 'Last error',
        'Delivered 24 h', 'Dead 24 h', ''], rows, 'No target configured.')];
  }

  /* One target: its health record, its newest deliveries, and what can be
   * done to it. */
  async function pageTarget(name) {
    const t = (await ui.configTargets()).find((x) => x.name === name);
    let r;
    try { r = await api('/targets/' + encodeURIComponent(name)); } catch (e) {
      if (e.status !== 404) throw e;
      return [h('h1', {}, 'No target named ' + name), link('/targets', 'Targets')];
    }
    const [hour, day, recent] = await Promise.all([api('/targets/health?window=3600'), api('/targets/health?window=86400'),
      api('/deliveries' + query({ target: name, limit: 10 }))]);
    const hh = ui.healthByTarget(hour.targets)[name] || {}, dd = ui.healthByTarget(day.targets)[name] || {};
    const result = h('div', { id: 'target-result', 'aria-live': 'polite' });
    const fact = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    return [h('h1', {}, 'Target ' + name),
      h('dl', { class: 'facts', id: 'target-health' },
        fact('Type', r.type), fact('Address', address(t)),
        fact('State', [stateLabel(r), ' ', h('span', { class: 'muted' }, MEANING[r.state] || '')]),
        since(r) ? fact('Since', when(since(r))) : null,
        fact('Failures in a row', String(r.consecutive_failures)),
        fact('Circuit', r.circuit === 'open' ? ['open since ', when(r.opened_at), '; next probe ', when(r.next_probe_at)] : 'closed'),
        r.disabled ? fact('Disabled because', r.disabled_reason || '—') : null,
        fact('Last success', when(r.last_success_at)), fact('Last failure', when(r.last_failure_at)),
        fact('Last error', r.last_error || dd.last_error || '—'),
        fact('Waiting now', (hh.pending || 0) + ' pending, ' + (hh.retrying || 0) + ' retrying'),
        fact('Last day', (dd.delivered || 0) + ' delivered, ' + (dd.dead || 0) + ' dead')),
      h('div', { class: 'actions', id: 'target-actions' }, actions(r),
        t ? h('button', { type: 'button', id: 'send-test', onclick: (ev) => sendTest(name, ev.currentTarget, result) }, 'Send a test event') : null),
      result,
      h('h2', {}, 'Newest deliveries'), ui.deliveryTable(recent.deliveries, 'Nothing was delivered to this target yet.'),
      link('/deliveries' + query({ target: name }), 'Every delivery to ' + name + ' →')];
  }

  /* POST /targets/NAME/test, then the delivery it made and its attempt,
   * shown in the page once settled (asked every second for 30 s at most,
   * only after the click). A second click sends a second test. */
  async function sendTest(name, button, result) {
    button.disabled = true;
    const gen = ui.current();
    try {
      const r = await api('/targets/' + encodeURIComponent(name) + '/test', {});
      const head = h('p', {}, 'Test event ', link('/events/' + r.event, '#' + r.event), ' sent to ' + name + ' as delivery ',
        link('/deliveries/' + r.delivery, '#' + r.delivery), '.');
      result.replaceChildren(head, h('p', { class: 'muted' }, 'Waiting for its attempt…'));
      let d = null;
      for (let i = 0; i < 30 && gen === ui.current(); i++) {
        d = await api('/deliveries/' + r.delivery);
        if (d.state !== 'pending') break;
        await new Promise((res) => setTimeout(res, 1000));
      }
      if (gen !== ui.current() || !d) return;
      const a = d.attempt_log.length ? d.attempt_log[d.attempt_log.length - 1] : null;
      result.replaceChildren(head, h('dl', { class: 'facts', id: 'test-outcome' },
        h('dt', {}, 'State'), h('dd', {}, label(d.state, d.state)),
        h('dt', {}, 'Status'), h('dd', {}, a && a.status !== null ? String(a.status) : '—'),
        h('dt', {}, 'Latency'), h('dd', {}, a ? a.latency_ms + ' ms' : '—'),
        h('dt', {}, 'Error'), h('dd', {}, (a && a.error) || '—'),
        h('dt', {}, 'Answer'), h('dd', {}, a && a.excerpt ? h('pre', {}, a.excerpt) : '—')));
    } catch (e) {
      result.replaceChildren(h('p', { class: 'error' }, 'The test failed: ' + e.message));
    }
    button.disabled = false;
  }

  return { pageTargets, pageTarget, heldNote };
}
