// tradewire fleet console: polls the metrics service once a second and keeps the page
// up to date. Plain DOM, no framework, no network beyond this origin. Every value from
// the server is put on the page as text (textContent), never as HTML.
"use strict";

(() => {
  const POLL_MS = 1000;
  // Rows in the table at once: past a few hundred, laying the table out again at each
  // update costs more than the update (measured in benchmarks/console.py).
  const PAGE_ROWS = 200;
  const STALE_AFTER_MS = 5000;
  const COLORS = ["#1d5fbf", "#c62828", "#1a7f37", "#7b3fb4"];
  const STATUS_ORDER = { down: 0, late: 1, unknown: 2, up: 3 };
  const BREAKER_ORDER = { open: 0, half_open: 1, closed: 2 };
  const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
  const DURATIONS = ["15m", "1h", "4h", "24h"];

  const $ = (id) => document.getElementById(id);
  const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  // What tests and benchmarks read: when the page last rendered, and how long it took.
  const stats = { renders: 0, lastRenderMs: 0, renderMs: [], lastUpdate: 0, errors: 0 };
  window.tradewireConsole = stats;

  const state = {
    fleet: null,
    columns: [],
    sort: { col: "status", dir: 1 },
    filter: "",
    problems: false,
    bot: null, // the bot whose view is open
    rows: new Map(), // bot -> { tr, cells: {col: td}, text: {col: string}, row }
    order: [],
    page: 0,
    openForm: null, // "rule|bot" of the silence form being filled in
    lastOk: 0,
  };

  // -- formatting ---------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  const fmtMoney = (v) => (v === null || v === undefined ? "\u2013" : money.format(v));
  const fmtSigned = (v) => (v === null || v === undefined ? "\u2013" : (v > 0 ? "+" : "") + money.format(v));
  const fmtPct = (v) => (v === null || v === undefined ? "\u2013" : v.toFixed(2) + "%");
  const fmtInt = (v) => (v === null || v === undefined ? "\u2013" : int.format(v));
  function fmtAge(s) {
    if (s === null || s === undefined) return "no heartbeat";
    if (s < 90) return Math.round(s) + "s";
    if (s < 5400) return Math.round(s / 60) + "m";
    return Math.round(s / 3600) + "h";
  }
  function fmtTime(ts) {
    const d = new Date(ts * 1000);
    return d.toISOString().slice(11, 19);
  }
  const fmtNum = (v) => (v === null || v === undefined ? "\u2013" : String(+(+v).toPrecision(6)));
  function fmtSeconds(s) {
    if (s === null || s === undefined) return "\u2013";
    return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(2) + " s";
  }

  // -- data ---------------------------------------------------------------------------
  async function getJSON(url) {
    const resp = await fetch(url, { cache: "no-store" });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.status + " " + resp.statusText);
    return body;
  }
  async function postJSON(url, data) {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data),
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.error || resp.status + " " + resp.statusText);
    return body;
  }

  function rowObject(row) {
    const out = {};
    state.columns.forEach((c, i) => (out[c] = row[i]));
    return out;
  }

  // -- the fleet table ----------------------------------------------------------------
  // Each column: the value it shows (compared with the last one shown: a cell is
  // rebuilt only when that changes), and how to draw it. A heartbeat age ticks every
  // second for every bot, so it is shown in the cell only when the bot is not up
  // (and as the cell's tooltip always): 1,000 cells re-laid out per second otherwise.
  const CELLS = {
    bot: {
      key: (r) => r.bot,
      draw: (td, r) => td.replaceChildren(el("a", { href: "#bot/" + encodeURIComponent(r.bot), text: r.bot })),
    },
    status: {
      key: (r) => (r.status === "up" ? "up" : r.status + " " + fmtAge(r.heartbeat_age_s)),
      draw: (td, r) => {
        td.dataset.status = r.status;
        td.replaceChildren(el("span", { class: "badge s-" + r.status, text: r.status }));
        if (r.status !== "up") td.append(el("span", { class: "age", text: fmtAge(r.heartbeat_age_s) }));
      },
    },
    equity: { key: (r) => r.equity, draw: (td, r) => (td.textContent = fmtMoney(r.equity)) },
    day_pnl: {
      key: (r) => r.day_pnl,
      draw: (td, r) => {
        td.textContent = fmtSigned(r.day_pnl);
        td.className = "num " + (r.day_pnl > 0 ? "pos" : r.day_pnl < 0 ? "neg" : "");
      },
    },
    drawdown_pct: { key: (r) => r.drawdown_pct, draw: (td, r) => (td.textContent = fmtPct(r.drawdown_pct)) },
    breaker: {
      key: (r) => r.breaker,
      draw: (td, r) => td.replaceChildren(
        r.breaker ? el("span", { class: "badge b-" + r.breaker, text: r.breaker }) : "\u2013"),
    },
    open_orders: { key: (r) => r.open_orders, draw: (td, r) => (td.textContent = fmtInt(r.open_orders)) },
    lost_events: {
      key: (r) => r.lost_events,
      draw: (td, r) => {
        td.textContent = fmtInt(r.lost_events);
        td.className = "num " + (r.lost_events > 0 ? "neg" : "");
      },
    },
    alerts: {
      key: (r) => JSON.stringify(r.alerts),
      draw: (td, r) => {
        // One badge per rule (a rule firing per symbol counts its instances), the most
        // severe first, as the server sorted them.
        const byRule = new Map();
        for (const [rule, severity, silenced] of r.alerts) {
          const g = byRule.get(rule);
          if (g) { g.n += 1; g.silenced = g.silenced && silenced; }
          else byRule.set(rule, { severity, silenced, n: 1 });
        }
        td.replaceChildren(...[...byRule].map(([rule, g]) => el("span", {
          class: "badge sev-" + g.severity + (g.silenced ? " silenced" : ""),
          title: g.severity + (g.silenced ? ", silenced" : "") + (g.n > 1 ? ", " + g.n + " instances" : ""),
          text: g.n > 1 ? rule + " \u00d7" + g.n : rule,
        })));
      },
    },
  };
  const NUMERIC = new Set(["equity", "day_pnl", "drawdown_pct", "open_orders", "lost_events"]);
  const TABLE_COLS = Object.keys(CELLS);

  function sortKey(r, col) {
    switch (col) {
      case "status": return [STATUS_ORDER[r.status] ?? 9]; // then by bot: a stable order
      case "breaker": return [BREAKER_ORDER[r.breaker] ?? 9];
      case "alerts": return [r.alerts.length ? SEVERITY_ORDER[r.alerts[0][1]] ?? 9 : 9, -r.alerts.length];
      default: return [r[col]];
    }
  }
  function compare(a, b) {
    const { col, dir } = state.sort;
    const ka = sortKey(a, col), kb = sortKey(b, col);
    for (let i = 0; i < ka.length; i++) {
      const x = ka[i], y = kb[i];
      if (x === y) continue;
      if (x === null || x === undefined) return 1; // empty values last, either way
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    }
    return a.bot < b.bot ? -1 : a.bot > b.bot ? 1 : 0;
  }
  function hasProblem(r) {
    return r.status !== "up" || (r.breaker && r.breaker !== "closed") || r.lost_events > 0 ||
      r.alerts.some((a) => !a[2]);
  }
  function matches(r, words) {
    if (state.problems && !hasProblem(r)) return false;
    if (!words.length) return true;
    const hay = [r.bot, r.status, r.breaker || "", ...r.alerts.map((a) => a[0] + " " + a[1])]
      .join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  }

  function makeRow(bot) {
    const tr = el("tr", { "data-bot": bot });
    const cells = {};
    for (const col of TABLE_COLS) {
      const td = el("td", { "data-col": col });
      if (NUMERIC.has(col)) td.className = "num";
      if (col === "alerts") td.className = "alerts-cell";
      cells[col] = td;
      tr.append(td);
    }
    return { tr, cells, shown: {}, row: null };
  }

  function renderFleet() {
    const t0 = performance.now();
    const data = state.fleet;
    const tbody = $("fleet").tBodies[0];
    const rows = data.rows.map(rowObject);
    const seen = new Set();
    for (const r of rows) {
      seen.add(r.bot);
      let entry = state.rows.get(r.bot);
      if (!entry) {
        entry = makeRow(r.bot);
        state.rows.set(r.bot, entry);
      }
      entry.row = r;
      for (const col of TABLE_COLS) {
        const spec = CELLS[col];
        const key = spec.key(r);
        if (entry.shown[col] === key) continue;
        entry.shown[col] = key;
        const td = entry.cells[col];
        // What the cell stands for, exactly as /api/fleet sent it (tests compare it).
        td.dataset.value = col === "status" ? r.status : JSON.stringify(r[col] ?? null);
        spec.draw(td, r);
      }
      const tip = "heartbeat " + fmtAge(r.heartbeat_age_s) + " ago";
      if (entry.cells.status.title !== tip) entry.cells.status.title = tip;
    }
    for (const [bot, entry] of state.rows) {
      if (!seen.has(bot)) {
        entry.tr.remove();
        state.rows.delete(bot);
      }
    }
    const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
    const matching = rows.filter((r) => matches(r, words)).sort(compare).map((r) => r.bot);
    const pages = Math.max(1, Math.ceil(matching.length / PAGE_ROWS));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * PAGE_ROWS;
    const visible = matching.slice(first, first + PAGE_ROWS);
    const same = visible.length === state.order.length && visible.every((b, i) => b === state.order[i]);
    if (!same) {
      const frag = document.createDocumentFragment();
      for (const bot of visible) frag.append(state.rows.get(bot).tr);
      tbody.replaceChildren(frag); // rows filtered out, or on other pages, are not in it
      state.order = visible;
    }
    const of = matching.length === rows.length ? "" : " (" + rows.length + " in all)";
    $("shown").textContent = matching.length > PAGE_ROWS
      ? (first + 1) + "\u2013" + (first + visible.length) + " of " + matching.length + " bots" + of
      : matching.length + " bots" + of;
    $("pager").hidden = pages < 2;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("empty").hidden = rows.length > 0;
    renderSummary(rows);
    void tbody.offsetHeight; // the layout this update costs is part of its time
    const ms = performance.now() - t0;
    stats.renders += 1;
    stats.lastRenderMs = ms;
    stats.renderMs.push(ms);
    if (stats.renderMs.length > 200) stats.renderMs.shift();
  }

  function renderSummary(rows) {
    const by = { up: 0, late: 0, down: 0, unknown: 0 };
    for (const r of rows) by[r.status] = (by[r.status] || 0) + 1;
    const firing = state.fleet.alerts.firing;
    const parts = [rows.length + " bots", by.up + " up"];
    if (by.late) parts.push(by.late + " late");
    if (by.down) parts.push(by.down + " down");
    if (by.unknown) parts.push(by.unknown + " without heartbeat");
    parts.push(firing.length + " alert" + (firing.length === 1 ? "" : "s") + " firing");
    $("summary").textContent = parts.join(" \u00b7 ");
  }

  function setupHeader() {
    for (const th of $("fleet").tHead.rows[0].cells) {
      th.addEventListener("click", () => {
        const col = th.dataset.col;
        state.sort = state.sort.col === col ? { col, dir: -state.sort.dir } : { col, dir: 1 };
        state.order = [];
        state.page = 0;
        markSort();
        if (state.fleet) renderFleet();
      });
    }
    markSort();
  }
  function markSort() {
    for (const th of $("fleet").tHead.rows[0].cells) {
      if (th.dataset.col === state.sort.col) {
        th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
      } else th.removeAttribute("aria-sort");
    }
  }

  // -- the alerts panel ---------------------------------------------------------------
  // Alerts of one rule and bot (e.g. one per symbol) are one item: a silence from the
  // page matches on rule and bot, so it holds them all.
  function groupAlerts(firing) {
    const groups = new Map();
    for (const a of firing) {
      const key = a.rule + "|" + a.bot;
      const g = groups.get(key);
      if (!g) {
        groups.set(key, { ...a, instances: [a] });
        continue;
      }
      g.instances.push(a);
      g.since = Math.min(g.since, a.since);
      g.silenced_by = g.silenced_by && a.silenced_by;
    }
    return [...groups.values()];
  }

  function alertItem(a, actions = true) {
    const key = a.rule + "|" + a.bot;
    const li = el("li", {
      class: a.silenced_by ? "is-silenced" : "",
      "data-rule": a.rule,
      "data-bot": a.bot,
      "data-silenced": a.silenced_by ? "true" : "false",
    });
    const instances = a.instances || [a];
    const labels = instances.map((x) => Object.entries(x.labels || {}).map(([k, v]) => k + "=" + v).join(" "))
      .filter(Boolean).join(", ");
    li.append(el("div", { class: "line1" },
      el("span", { class: "badge sev-" + a.severity, text: a.severity }),
      el("strong", { text: a.rule }), " ",
      el("a", { href: "#bot/" + encodeURIComponent(a.bot), text: a.bot }),
      labels ? " " + labels : ""));
    const detail = [];
    if (instances.length > 1) detail.push(instances.length + " instances");
    if (a.value !== null) detail.push("value " + (+a.value.toPrecision(4)));
    if (a.threshold !== null) detail.push("threshold " + a.threshold);
    detail.push("since " + fmtTime(a.since));
    if (a.silenced_by) detail.push("silenced until " + fmtTime(a.silenced_until) + " (" + a.silenced_by + ")");
    li.append(el("div", { class: "line2", text: detail.join(" \u00b7 ") }));
    if (actions && !a.silenced_by && state.fleet.silences.allowed) {
      if (state.openForm === key) li.append(silenceForm(a));
      else li.append(el("button", {
        type: "button",
        class: "silence-btn",
        text: "Silence\u2026",
        onclick: () => { state.openForm = key; renderAlerts(); },
      }));
    }
    return li;
  }

  function silenceForm(a) {
    const select = el("select", { name: "duration", "aria-label": "how long" });
    for (const d of DURATIONS) select.append(el("option", { value: d, text: "for " + d }));
    select.value = "1h";
    const comment = el("input", {
      name: "comment",
      type: "text",
      required: "required",
      maxlength: "500",
      placeholder: "why, and who to ask",
      "aria-label": "comment",
    });
    const msg = el("span", { class: "error" });
    const form = el("form", { class: "silence" },
      el("div", { text: "Silence " + a.rule + " on " + a.bot }),
      el("div", { class: "row" }, select, comment),
      el("div", { class: "row" },
        el("button", { type: "submit", text: "Silence" }),
        el("button", { type: "button", text: "Cancel", onclick: () => { state.openForm = null; renderAlerts(); } }),
        msg));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      msg.textContent = "";
      try {
        await postJSON("/api/silences", {
          rule: a.rule, bot: a.bot, duration: select.value, comment: comment.value,
        });
        state.openForm = null;
        await refresh();
      } catch (err) {
        msg.textContent = err.message;
      }
    });
    queueMicrotask(() => comment.focus());
    return form;
  }

  function silenceItem(s) {
    const matchers = [s.rule && "rule=" + s.rule, s.bot && "bot=" + s.bot,
      ...Object.entries(s.labels || {}).map(([k, v]) => k + "=" + v)].filter(Boolean).join(" ");
    const li = el("li", { "data-silence": s.id },
      el("div", { class: "line1" }, el("strong", { text: matchers }), " ",
        el("span", { class: "muted", text: s.state + " until " + fmtTime(s.ends_at) })),
      el("div", { class: "line2", text: s.comment + " \u2014 " + s.created_by + " (" + s.id + ")" }));
    if (state.fleet.silences.allowed) {
      const msg = el("span", { class: "error" });
      li.append(el("button", {
        type: "button",
        text: "End",
        onclick: async () => {
          try {
            await postJSON("/api/silences/end", { id: s.id });
            await refresh();
          } catch (err) {
            msg.textContent = " " + err.message;
          }
        },
      }), msg);
    }
    return li;
  }

  let alertsShown = "";
  function renderAlerts() {
    const { firing, silences } = state.fleet.alerts;
    const key = JSON.stringify([state.fleet.alerts, state.fleet.silences, state.openForm]);
    if (key === alertsShown) return; // nothing changed: leave the panel as it is
    const typing = state.openForm && document.activeElement && document.activeElement.form;
    alertsShown = typing ? "" : key; // while typing, the list waits: draw it next time
    if (!typing) {
      // Rebuilt whole: a few dozen items at most in practice, and never while the
      // operator is typing a comment into a silence form.
      $("firing").replaceChildren(...groupAlerts(firing).map((a) => alertItem(a)));
      if (!firing.length) $("firing").append(el("li", { class: "muted", text: "Nothing is firing." }));
    }
    $("firing-count").textContent = firing.length;
    $("silences").replaceChildren(...silences.map(silenceItem));
    if (!silences.length) $("silences").append(el("li", { class: "muted", text: "No silences." }));
    $("silence-count").textContent = silences.length;
    const s = state.fleet.silences;
    $("silence-note").textContent = !s.allowed
      ? "Silencing from the console is off (console_silences)."
      : !s.watching ? "The alerts bucket " + s.bucket + " was not found: is the alerts service running?" : "";
  }

  // -- one bot ------------------------------------------------------------------------
  function chart(svg, legend, t, lines, fmt) {
    // Drawn in the SVG's own pixels, so text stays at its CSS size whatever the width.
    const W = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 480);
    const H = 170, L = 72, R = 10, T = 10, B = 22;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.replaceChildren();
    legend.replaceChildren();
    const NS = "http://www.w3.org/2000/svg";
    const add = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    };
    const vals = lines.flatMap((l) => l.values.filter((v) => v !== null));
    const points = Math.max(0, ...lines.map((l) => l.values.filter((v) => v !== null).length));
    if (points < 2) {
      add("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" },
        points ? "one point so far: a line needs two" : "no data yet");
      return;
    }
    let y0 = Math.min(...vals), y1 = Math.max(...vals);
    const mag = Math.max(Math.abs(y0), Math.abs(y1));
    if (y1 - y0 <= mag * 1e-6) { // flat (to rounding): centre it, do not magnify noise
      const pad = mag * 0.01 || 1;
      y0 -= pad;
      y1 += pad;
    }
    const x0 = t[0], x1 = t[t.length - 1] === x0 ? x0 + 1 : t[t.length - 1];
    const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
    for (const f of [0, 0.5, 1]) {
      const y = y0 + f * (y1 - y0);
      add("line", { x1: L, x2: W - R, y1: Y(y), y2: Y(y), class: f === 0 ? "axis" : "grid" });
      add("text", { x: L - 4, y: Y(y) + 4, "text-anchor": "end" }, fmt(y));
    }
    add("text", { x: L, y: H - 6, "text-anchor": "start" }, fmtTime(x0));
    add("text", { x: W - R, y: H - 6, "text-anchor": "end" }, fmtTime(x1));
    lines.forEach((l, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = [];
      l.values.forEach((v, j) => { if (v !== null) pts.push(X(t[j]).toFixed(1) + "," + Y(v).toFixed(1)); });
      add("polyline", {
        points: pts.join(" "),
        fill: "none",
        stroke: color,
        "stroke-width": "1.8",
        "stroke-dasharray": l.dash || "",
        "data-series": l.name,
      });
      const sw = el("i");
      sw.style.background = color;
      legend.append(el("span", {}, sw, l.name));
    });
  }

  function renderBot(view) {
    const r = rowObject(view.row);
    $("bot-title").textContent = view.bot;
    const facts = [
      ["Status", r.status + " (heartbeat " + fmtAge(r.heartbeat_age_s) + ")"],
      ["Equity", fmtMoney(r.equity)],
      ["Day PnL", fmtSigned(r.day_pnl) + (view.day_pnl_since ? " since " + fmtTime(view.day_pnl_since) : "")],
      ["Drawdown", fmtPct(r.drawdown_pct)],
      ["Breaker", r.breaker || "\u2013"],
      ["Open orders", fmtInt(r.open_orders)],
      ["Lost events", fmtInt(r.lost_events)],
    ];
    $("bot-facts").replaceChildren(...facts.map(([k, v]) =>
      el("div", { "data-fact": k }, el("dt", { text: k }), el("dd", { text: v }))));
    const list = el("ul", { class: "alerts" });
    for (const a of groupAlerts(view.alerts)) list.append(alertItem(a, false));
    $("bot-alerts").replaceChildren(...(view.alerts.length ? [el("h3", { text: "Firing" }), list] : []));
    const s = view.series;
    const t = s.t || [];
    chart($("chart-equity"), $("legend-equity"), t, [{ name: "equity", values: s.equity || [] }], (v) => money.format(v));
    chart($("chart-pnl"), $("legend-pnl"), t, [{ name: "total PnL", values: s.pnl || [] }], (v) => money.format(v));
    chart($("chart-cycle"), $("legend-cycle"), t, [
      { name: "mean", values: s.cycle_mean_s || [] },
      { name: "max", values: s.cycle_max_s || [], dash: "4 3" },
    ], fmtSeconds);
    chart($("chart-broker"), $("legend-broker"), t, [
      { name: "mean", values: s.broker_mean_s || [] },
      { name: "max", values: s.broker_max_s || [], dash: "4 3" },
    ], fmtSeconds);
    $("chart-note").textContent = "Buckets of " + view.step_s + " s by event time, the last " +
      t.length + " held in the metrics service's memory.";
    table($("bot-orders"), ["time", "symbol", "side", "status", "qty", "price", "reason"],
      view.orders.map((o) => [fmtTime(o.ts), o.symbol, o.side, o.status, fmtNum(o.qty), fmtNum(o.price), o.reason]));
    table($("bot-errors"), ["time", "component", "type", "message"],
      view.errors.map((e) => [fmtTime(e.ts), e.component, e.error_type, e.message]));
    table($("bot-positions"), ["symbol", "side", "qty", "entry", "mark", "unrealized"],
      view.positions.map((p) => [p.symbol, p.side, fmtNum(p.qty), fmtNum(p.entry_price), fmtNum(p.mark_price),
        fmtMoney(p.unrealized_pnl)]));
  }

  function table(node, head, rows) {
    const thead = el("tr", {}, ...head.map((h) => el("th", { text: h })));
    const body = rows.map((r) => el("tr", {}, ...r.map((c, i) =>
      el("td", { class: head[i] === "message" ? "msg" : "", text: String(c) }))));
    if (!rows.length) body.push(el("tr", {}, el("td", { colspan: head.length, class: "muted", text: "none yet" })));
    node.replaceChildren(el("thead", {}, thead), el("tbody", {}, ...body));
  }

  // -- the loop -----------------------------------------------------------------------
  function route() {
    const m = location.hash.match(/^#bot\/(.+)$/);
    state.bot = m ? decodeURIComponent(m[1]) : null;
    $("fleet-view").hidden = state.bot !== null;
    $("bot-view").hidden = state.bot === null;
  }

  let timer = null;
  let inFlight = null;
  async function refresh() {
    if (inFlight) return inFlight;
    inFlight = (async () => {
      try {
        const fleet = await getJSON("/api/fleet");
        state.fleet = fleet;
        state.columns = fleet.columns;
        $("reports-link").hidden = !fleet.reports;
        if (fleet.reports) $("reports-link").href = fleet.reports;
        renderFleet();
        renderAlerts();
        if (state.bot !== null) {
          try {
            renderBot(await getJSON("/api/bot?bot=" + encodeURIComponent(state.bot)));
          } catch (err) {
            $("bot-title").textContent = state.bot + ": " + err.message;
          }
        }
        state.lastOk = Date.now();
        stats.lastUpdate = fleet.ts;
        $("live").className = "live ok";
        $("live").textContent = "live \u00b7 updated " + fmtTime(fleet.ts) + " UTC";
      } catch (err) {
        stats.errors += 1;
        if (Date.now() - state.lastOk > STALE_AFTER_MS) {
          $("live").className = "live stale";
          $("live").textContent = "not updating: " + err.message;
        }
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  }
  async function loop() {
    await refresh();
    timer = setTimeout(loop, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupHeader();
    $("filter").addEventListener("input", (ev) => {
      state.filter = ev.target.value;
      state.order = [];
      state.page = 0;
      if (state.fleet) renderFleet();
    });
    $("problems").addEventListener("change", (ev) => {
      state.problems = ev.target.checked;
      state.order = [];
      state.page = 0;
      if (state.fleet) renderFleet();
    });
    for (const [id, step] of [["prev", -1], ["next", 1]]) {
      $(id).addEventListener("click", () => {
        state.page = Math.max(0, state.page + step);
        if (state.fleet) renderFleet();
      });
    }
    window.addEventListener("hashchange", () => {
      route();
      clearTimeout(timer);
      loop();
    });
    route();
    loop();
  });
})();
