// Portico console: browses the admin API read-only and charts one route's figures.
//
// Every call goes to this origin's admin API. With a key pair in sessionStorage it is signed
// with SigV4 (service `apigateway`, region `us-east-1`) through WebCrypto, exactly as the AWS
// CLI signs; without one it goes unsigned (a gateway with no admin credentials accepts it).
// `window.porticoConsole` exposes what the charts plotted, for tests and the curious.
'use strict';

(function () {
  const REGION = 'us-east-1';
  const SERVICE = 'apigateway';
  const KEY = 'portico.console.credentials';
  const POLL_MS = 1000;
  const WINDOW_S = 120;
  const enc = new TextEncoder();
  const $ = (id) => document.getElementById(id);

  const state = {
    api: null, // {id, name, kind: 'v2' | 'rest', protocol}
    stage: null,
    route: null,
    since: 0,
    series: [], // interval points of the selected route, oldest first
    timer: null,
  };
  const hook = (window.porticoConsole = { plotted: {}, draws: 0, errors: [] });

  // --- SigV4 (WebCrypto) ---------------------------------------------------------------

  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const sha256hex = async (s) => hex(await crypto.subtle.digest('SHA-256', enc.encode(s)));
  async function hmac(key, data) {
    const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key,
      { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', k, enc.encode(data)));
  }
  // RFC 3986 percent-encoding, as SigV4 canonicalizes.
  const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

  function credentials() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (_) { return null; }
  }

  async function signedHeaders(method, path, query) {
    const creds = credentials();
    if (!creds) return {};
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    const payloadHash = await sha256hex('');
    const host = location.host;
    const canonicalUri = rfc3986(path).replace(/%2F/g, '/');
    const canonical = [method, canonicalUri, query, 'host:' + host,
      'x-amz-content-sha256:' + payloadHash, 'x-amz-date:' + amzDate, '',
      'host;x-amz-content-sha256;x-amz-date', payloadHash].join('\n');
    const scope = `${date}/${REGION}/${SERVICE}/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256hex(canonical)].join('\n');
    let key = await hmac('AWS4' + creds.secret, date);
    key = await hmac(key, REGION);
    key = await hmac(key, SERVICE);
    key = await hmac(key, 'aws4_request');
    const signature = hex(await hmac(key, toSign));
    return {
      'x-amz-date': amzDate,
      'x-amz-content-sha256': payloadHash,
      authorization: `AWS4-HMAC-SHA256 Credential=${creds.id}/${scope}, ` +
        `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
    };
  }

  class AuthError extends Error {}

  // GET `path` with `params` (sorted, encoded once on the wire: the canonical query as is).
  async function call(path, params) {
    const query = Object.keys(params || {}).sort()
      .map((k) => rfc3986(k) + '=' + rfc3986(String(params[k]))).join('&');
    const headers = await signedHeaders('GET', path, query);
    const r = await fetch(path + (query ? '?' + query : ''), { headers });
    const text = await r.text();
    const body = text ? JSON.parse(text) : null;
    if (r.status === 401 || r.status === 403) throw new AuthError((body && body.message) || r.statusText);
    if (!r.ok) {
      const e = new Error((body && body.message) || r.statusText);
      e.status = r.status;
      throw e;
    }
    return body;
  }

  // --- navigation ----------------------------------------------------------------------

  function list(ul, items, label, selected, onPick) {
    ul.textContent = '';
    if (!items.length) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = 'none';
      ul.appendChild(li);
    }
    for (const it of items) {
      const li = document.createElement('li');
      const [main, sub] = label(it);
      li.textContent = main;
      if (sub) {
        const s = document.createElement('small');
        s.textContent = ' ' + sub;
        li.appendChild(s);
      }
      if (selected(it)) li.className = 'sel';
      if (onPick) li.addEventListener('click', () => onPick(it));
      li.dataset.name = main;
      ul.appendChild(li);
    }
  }

  async function loadApis() {
    const [v2, rest] = await Promise.all([call('/v2/apis'), call('/restapis')]);
    const apis = (v2.items || []).map((a) => ({ id: a.apiId, name: a.name, kind: 'v2', protocol: a.protocolType }))
      .concat((rest.item || []).map((a) => ({ id: a.id, name: a.name, kind: 'rest', protocol: 'REST' })));
    list($('apis'), apis, (a) => [a.name, `${a.id} · ${a.protocol}`],
      (a) => state.api && a.id === state.api.id, pickApi);
    return apis;
  }

  async function pickApi(api) {
    state.api = api;
    state.stage = null;
    state.route = null;
    await loadApis();
    const id = encodeURIComponent(api.id);
    let stages, routes, integrations;
    if (api.kind === 'v2') {
      const [s, r, i] = await Promise.all([call(`/v2/apis/${id}/stages`), call(`/v2/apis/${id}/routes`),
        call(`/v2/apis/${id}/integrations`)]);
      stages = (s.items || []).map((x) => x.stageName);
      routes = (r.items || []).map((x) => ({ key: x.routeKey, sub: x.target || '' }));
      integrations = (i.items || []).map((x) => [x.integrationId,
        `${x.integrationType} ${x.integrationMethod || ''} ${x.integrationUri || ''}`]);
    } else {
      const [s, r] = await Promise.all([call(`/restapis/${id}/stages`), call(`/restapis/${id}/resources`)]);
      stages = (s.item || []).map((x) => x.stageName);
      routes = [];
      integrations = [];
      for (const res of r.item || []) {
        for (const m of Object.keys(res.resourceMethods || {})) {
          routes.push({ key: `${m} ${res.path}`, sub: '' });
          const integ = res.resourceMethods[m].methodIntegration;
          if (integ) integrations.push([`${m} ${res.path}`, `${integ.type} ${integ.uri || ''}`]);
        }
      }
    }
    state.routes = routes;
    state.stages = stages;
    list($('integrations'), integrations, (x) => x, () => false, null);
    renderNav();
    if (stages.length === 1) pickStage(stages[0]);
  }

  function renderNav() {
    list($('stages'), state.stages || [], (s) => [s], (s) => s === state.stage, pickStage);
    list($('routes'), state.routes || [], (r) => [r.key, r.sub], (r) => r.key === state.route, (r) => pickRoute(r.key));
  }

  function pickStage(stage) {
    state.stage = stage;
    renderNav();
  }

  function pickRoute(key) {
    if (!state.stage) return;
    state.route = key;
    state.since = 0;
    state.series = [];
    renderNav();
    $('title').textContent = `${state.api.name} · ${state.stage} · ${key}`;
    if (state.timer) clearInterval(state.timer);
    refresh();
    state.timer = setInterval(refresh, POLL_MS);
  }

  // --- figures -------------------------------------------------------------------------

  function plot(id, opts, data) {
    const el = $(id);
    if (!el._plot) {
      el.textContent = '';
      el._plot = new uPlot(Object.assign({ width: Math.max(320, el.clientWidth || 480), height: 240 }, opts), data, el);
    } else {
      el._plot.setData(data);
    }
    hook.plotted[id] = data.map((s) => Array.from(s));
    hook.draws++;
  }

  const line = (label, stroke, extra) => Object.assign({ label, stroke, width: 1.5 }, extra || {});

  async function refresh() {
    const sel = { api: state.api.id, stage: state.stage, route: state.route };
    try {
      const [stats, hist, h] = await Promise.all([
        call('/portico/stats'),
        call('/portico/history', Object.assign({ since: state.since }, sel)),
        call('/portico/histograms', sel).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
      ]);
      if (sel.route !== state.route) return;
      for (const iv of hist.intervals) {
        const p = iv.routes[0];
        state.series.push({ t: iv.endUnixMs / 1000, len: iv.lengthMs / 1000, p });
      }
      state.since = hist.latest;
      state.series = state.series.slice(-WINDOW_S);
      const route = (stats.routes || []).find((r) => r.apiId === sel.api && r.stage === sel.stage && r.routeKey === sel.route);
      summary(route);
      charts(h);
      $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
      hook.route = route || null;
      hook.histograms = h;
    } catch (e) {
      hook.errors.push(String(e));
      if (e instanceof AuthError) return showLogin(e.message);
      $('status').textContent = 'error: ' + e.message;
    }
  }

  function summary(r) {
    const t = $('summary');
    t.textContent = '';
    if (!r) {
      t.innerHTML = '<tr><td class="muted">No requests recorded on this route yet.</td></tr>';
      return;
    }
    const rows = [
      ['requests', r.count, '2xx', r.status2xx, '4xx', r.status4xx, '5xx', r.status5xx],
      ['throttled', r.throttledCount, 'cache hits', r.cacheHitCount, 'cache misses', r.cacheMissCount, '', ''],
    ];
    for (const [name, p] of [['total', r.latencyUs], ['gateway', r.gatewayLatencyUs], ['integration', r.integrationLatencyUs]]) {
      rows.push([name + ' p50', p.p50, 'p90', p.p90, 'p99', p.p99, 'max', p.max]);
    }
    for (const row of rows) {
      const tr = document.createElement('tr');
      row.forEach((c, i) => {
        const td = document.createElement(i % 2 ? 'td' : 'th');
        td.textContent = i % 2 && c !== '' ? Number(c).toLocaleString('en-US') + (row[0].includes('p50') ? ' µs' : '') : c;
        tr.appendChild(td);
      });
      t.appendChild(tr);
    }
  }

  function charts(h) {
    const s = state.series;
    const t = s.map((x) => x.t);
    const get = (f) => s.map((x) => (x.p ? f(x.p) : null));
    const axes = [{}, { size: 70 }];
    plot('chart-latency', {
      series: [{}, line('p50', '#2b7bd6'), line('p90', '#e69b00'), line('p99', '#c0392b')], axes,
    }, [t, get((p) => p.latencyUs.p50), get((p) => p.latencyUs.p90), get((p) => p.latencyUs.p99)]);
    plot('chart-split', {
      series: [{}, line('gateway p50', '#2e9e5b'), line('gateway p99', '#1b5e37', { dash: [4, 3] }),
        line('integration p50', '#8e44ad'), line('integration p99', '#5b2c6f', { dash: [4, 3] })], axes,
    }, [t, get((p) => p.gatewayLatencyUs.p50), get((p) => p.gatewayLatencyUs.p99),
      get((p) => p.integrationLatencyUs.p50), get((p) => p.integrationLatencyUs.p99)]);
    const rate = (f) => s.map((x) => (x.p ? f(x.p) / (x.len || 1) : 0));
    plot('chart-rates', {
      series: [{}, line('req/s', '#2b7bd6'), line('4xx/s', '#e69b00'), line('5xx/s', '#c0392b'),
        line('throttled/s', '#7f8c8d'), line('cache hits/s', '#2e9e5b')], axes,
    }, [t, rate((p) => p.count), rate((p) => p.status4xx), rate((p) => p.status5xx),
      rate((p) => p.throttledCount), rate((p) => p.cacheHitCount)]);
    histogram(h);
  }

  // The three histograms on log axes, their bins regrouped into BINS_PER_DECADE log-spaced
  // bins (x: a bin's upper bound, µs) so the three share one x axis.
  const BINS_PER_DECADE = 20;
  function histogram(h) {
    const which = [['total', '#2b7bd6'], ['gateway', '#2e9e5b'], ['integration', '#8e44ad']];
    const bin = (v) => Math.ceil(Math.log10(Math.max(1, v)) * BINS_PER_DECADE);
    const counts = which.map(() => new Map());
    const used = new Set();
    which.forEach(([w], i) => {
      for (const [v, c] of h ? h[w].bins : []) {
        const b = bin(v);
        used.add(b);
        counts[i].set(b, (counts[i].get(b) || 0) + c);
      }
    });
    const idx = Array.from(used).sort((a, b) => a - b);
    const x = idx.map((b) => Math.round(Math.pow(10, b / BINS_PER_DECADE)));
    const cols = counts.map((m) => idx.map((b) => (m.has(b) ? m.get(b) : null)));
    plot('chart-histogram', {
      scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [{ label: 'µs' }, { size: 70, label: 'requests' }],
      series: [{ label: 'µs' }].concat(which.map(([w, c]) => line(w, c, {
        paths: uPlot.paths.stepped({ align: 1 }), spanGaps: false, points: { show: true, size: 4 },
      }))),
    }, [x].concat(cols));
  }

  // --- session -------------------------------------------------------------------------

  function showLogin(message) {
    if (state.timer) clearInterval(state.timer);
    $('app').classList.add('hidden');
    $('login').classList.remove('hidden');
    $('loginerr').textContent = message && credentials() ? message : '';
  }

  async function start() {
    const creds = credentials();
    $('who').textContent = creds ? 'signed as ' + creds.id : '';
    $('signout').classList.toggle('hidden', !creds);
    try {
      await loadApis();
    } catch (e) {
      if (e instanceof AuthError) return showLogin(e.message);
      $('status').textContent = 'error: ' + e.message;
      return;
    }
    $('login').classList.add('hidden');
    $('app').classList.remove('hidden');
    hook.ready = true;
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, JSON.stringify({ id: $('akid').value.trim(), secret: $('secret').value }));
    start();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  start();
})();
