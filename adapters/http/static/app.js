// steplane web UI: a hash-routed page on top of the run API (adapters/http/*_api.py).
// No framework, no build step. Everything shown is put in the page with textContent (never
// innerHTML), so a value from a run can never become markup or script.
"use strict";

const ROOT = document.body.dataset.root || "";
const main = document.getElementById("main");
const liveNote = document.getElementById("live");
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
let page = null; // the current page's {stop()}

// --- helpers ---------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const init = {
    method: options.method || "GET",
    credentials: "same-origin",
    headers: { "X-Steplane-UI": "1", Accept: "application/json" },
    signal: options.signal,
  };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(ROOT + path, init);
  if (response.status === 401) {
    window.location.assign(ROOT + "/ui/login");
    throw new ApiError(401, "signed out");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.error || response.statusText);
  return body;
}

function seconds(iso) { return iso ? Date.parse(iso) / 1000 : null; }

function duration(totalSeconds) {
  if (totalSeconds === null || totalSeconds === undefined || !isFinite(totalSeconds)) return "";
  const s = Math.max(0, totalSeconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function runDuration(run) {
  const start = seconds(run.created_at);
  const end = run.completed_at ? seconds(run.completed_at) : Date.now() / 1000;
  return duration(end - start);
}

/** `module:function` -> `function` (the full name stays in the title). */
function shortName(name) { return String(name || "").split(":").pop(); }

function badge(status) { return h("span", { class: `badge ${status}`, "data-status": status }, status); }

function showValue(value) {
  return h("pre", { class: "value" }, JSON.stringify(value, null, 2));
}

function isSealed(data) {
  return data && typeof data === "object" && data.encrypted === true && "size" in data;
}

function sealedNote(data) {
  return h("span", { class: "sealed" }, `encrypted (${data.size ?? "?"} bytes)`);
}

function confirmAction(text, yesLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-yes").textContent = yesLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-no").focus();
  });
}

function setLive(text) { liveNote.textContent = text; }

/** Re-render `container` with `render()` without losing the keyboard focus: a focused link
 * or button inside a row marked `data-run-id` is focused again in the new row. */
function keepFocus(container, render) {
  const active = document.activeElement;
  const row = active && container.contains(active) ? active.closest("[data-run-id]") : null;
  const id = row ? row.getAttribute("data-run-id") : null;
  const role = active ? active.className : "";
  render();
  if (id === null) return;
  const again = container.querySelector(`[data-run-id="${CSS.escape(id)}"] .${CSS.escape(role.split(" ")[0] || "x")}`);
  if (again) again.focus();
}

/** Call `tick` now and then every `ms` until stopped; one call at a time. */
function poller(tick, ms) {
  let timer = null, stopped = false;
  const run = async () => {
    if (stopped) return;
    try { await tick(); } catch (error) { if (!stopped) reportError(error); }
    if (!stopped) timer = setTimeout(run, document.hidden ? ms * 4 : ms);
  };
  run();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

function reportError(error) {
  if (error && (error.name === "AbortError" || error.status === 401)) return;
  const box = document.getElementById("page-error");
  if (box) box.textContent = error && error.message ? error.message : String(error);
}

// --- router ----------------------------------------------------------------------------------

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/runs";
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
}

function route() {
  if (page) page.stop();
  page = null;
  setLive("");
  const { parts, params } = parseHash();
  const section = parts[0] || "runs";
  for (const link of document.querySelectorAll("nav a")) {
    const current = link.id === `nav-${section}`;
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  if (section === "runs" && parts[1]) page = runPage(decodeURIComponent(parts[1]));
  else if (section === "hooks") page = hooksPage(params);
  else page = runsPage(params);
}

window.addEventListener("hashchange", route);

// --- runs ------------------------------------------------------------------------------------

const SINCE = [["", "any time"], ["900", "last 15 minutes"], ["3600", "last hour"],
  ["86400", "last 24 hours"], ["604800", "last 7 days"]];

function runsPage(params) {
  document.title = "Runs · steplane";
  const status = params.get("status") || "";
  const workflow = params.get("workflow") || "";
  const deployment = params.get("deployment") || "";
  const attr = params.get("attr") || "";
  const since = params.get("since") || "";
  const cursor = params.get("cursor") || "";
  const limit = params.get("limit") || "";
  const go = (changes) => {
    const next = new URLSearchParams({ status, workflow, deployment, attr, since, cursor, limit, ...changes });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    window.location.hash = `#/runs${next.toString() ? "?" + next : ""}`;
  };
  const statusSelect = h("select", { id: "filter-status", onchange: (e) => go({ status: e.target.value, cursor: "" }) },
    ["", "pending", "running", "completed", "failed", "cancelled"].map((s) =>
      h("option", { value: s, selected: s === status }, s || "any status")));
  const workflowInput = h("input", { id: "filter-workflow", value: workflow, list: "workflows",
    placeholder: "module:function", size: 22 });
  const deploymentInput = h("input", { id: "filter-deployment", value: deployment, list: "deployments",
    placeholder: "d-…", size: 16, spellcheck: "false" });
  const attrInput = h("input", { id: "filter-attr", value: attr, placeholder: "name=value", size: 18,
    spellcheck: "false", "aria-describedby": "attr-help" });
  const sinceSelect = h("select", { id: "filter-since", onchange: (e) => go({ since: e.target.value, cursor: "" }) },
    SINCE.map(([value, label]) => h("option", { value, selected: value === since }, label)));
  const workflowList = h("datalist", { id: "workflows" });
  const deploymentList = h("datalist", { id: "deployments" });
  const body = h("tbody", { id: "runs-body" });
  const pager = h("div", { class: "pager" });
  // The text filters apply together (Enter in any of them, or the button); the menus at once.
  const filters = h("form", { class: "filters", id: "filters", onsubmit: (e) => {
    e.preventDefault();
    go({ workflow: workflowInput.value.trim(), deployment: deploymentInput.value.trim(),
      attr: attrInput.value.trim(), cursor: "" });
  } },
    h("div", {}, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", {}, h("label", { for: "filter-workflow" }, "Workflow"), workflowInput),
    h("div", {}, h("label", { for: "filter-deployment" }, "Deployment"), deploymentInput),
    h("div", {}, h("label", { for: "filter-attr" }, "Attribute"), attrInput,
      h("span", { id: "attr-help", class: "sr-only" }, "An attribute the run set: name=value")),
    h("div", {}, h("label", { for: "filter-since" }, "Started"), sinceSelect),
    h("div", {}, h("button", { type: "submit", class: "quiet", id: "filter-apply" }, "Filter")),
    workflowList, deploymentList);
  main.append(
    h("h1", {}, "Runs"), filters,
    h("p", { class: "error", id: "page-error", role: "alert" }),
    h("div", { class: "scroll" }, h("table", { id: "runs" },
      h("thead", {}, h("tr", {}, h("th", {}, "Status"), h("th", {}, "Workflow"),
        h("th", { class: "hide-narrow" }, "Run"), h("th", { class: "hide-narrow" }, "Deployment"),
        h("th", {}, "Started"), h("th", {}, "Duration"), h("th", { class: "num" }, "Steps"))),
      body)),
    pager);
  const workflows = new Set();
  const deployments = new Set();
  let shown = "";
  const tick = async () => {
    const query = new URLSearchParams({ limit: limit || "25", steps: "true" });
    if (status) query.set("status", status);
    if (workflow) query.set("workflow", workflow);
    if (deployment) query.set("deployment", deployment);
    if (attr) query.set("attr", attr);
    if (since) query.set("since", String(Date.now() / 1000 - Number(since)));
    if (cursor) query.set("cursor", cursor);
    const data = await api(`/v1/runs?${query}`);
    setLive(`live · updated ${new Date().toLocaleTimeString()}`);
    const key = JSON.stringify(data) + Math.floor(Date.now() / 10000); // durations age
    if (key === shown) return;
    shown = key;
    const rows = data.runs.map((run) => {
      workflows.add(run.workflow);
      if (run.deployment) deployments.add(run.deployment);
      const link = h("a", { href: `#/runs/${encodeURIComponent(run.run_id)}`, class: "run-link" },
        run.workflow);
      return h("tr", { "data-run-id": run.run_id, "data-status": run.status },
        h("td", {}, badge(run.status)), h("td", {}, link),
        h("td", { class: "mono hide-narrow" }, run.run_id),
        h("td", { class: "mono hide-narrow deployment" }, run.deployment || h("span", { class: "muted" }, "unpinned")),
        h("td", {}, when(run.created_at)),
        h("td", {}, runDuration(run)), h("td", { class: "num" }, run.steps ?? ""));
    });
    keepFocus(body, () => body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No runs."))])));
    workflowList.replaceChildren(...[...workflows].sort().map((w) => h("option", { value: w })));
    deploymentList.replaceChildren(...[...deployments].sort().map((d) => h("option", { value: d })));
    pager.replaceChildren(
      cursor ? h("button", { class: "quiet", id: "page-first", onclick: () => go({ cursor: "" }) }, "← Newest") : "",
      data.next_cursor ? h("button", { class: "quiet", id: "page-next", onclick: () => go({ cursor: data.next_cursor }) }, "Older →") : "",
      h("span", { class: "muted", id: "runs-count" }, `${data.runs.length} run${data.runs.length === 1 ? "" : "s"} on this page`));
    document.getElementById("page-error").textContent = "";
  };
  return poller(tick, 1500);
}

// --- one run ---------------------------------------------------------------------------------

function runPage(runId) {
  document.title = `${runId} · steplane`;
  const state = { decrypted: new Map(), streams: new Map(), ended: false, rendered: "" };
  const header = h("div", { id: "run-header" });
  const actions = h("div", { class: "actions" });
  const values = h("div", { class: "grid2", id: "values" });
  const gantt = h("div", { class: "gantt", id: "gantt", role: "img", "aria-label": "Timeline of the run" });
  const errors = h("div", { id: "errors" });
  const hooks = h("div", { id: "hooks" });
  const streams = h("div", { id: "streams" }, h("p", { class: "muted", id: "no-streams" }, "No streams."));
  const events = h("tbody", { id: "events-body" });
  const notice = h("p", { class: "notice", id: "notice", "aria-live": "polite" });
  main.append(
    h("p", {}, h("a", { href: "#/runs" }, "← Runs")), header, actions, notice,
    h("p", { class: "error", id: "page-error", role: "alert" }),
    h("h2", {}, "Timeline"), gantt, legend(),
    h("h2", {}, "Input and output"), values,
    h("h2", {}, "Errors"), errors,
    h("h2", {}, "Pending hooks"), hooks,
    h("h2", {}, "Streams"), streams,
    h("h2", {}, "Events"),
    h("div", { class: "scroll" }, h("table", { id: "events" },
      h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Time"), h("th", {}, "Type"),
        h("th", { class: "hide-narrow" }, "Of"), h("th", {}, "Details"))), events)));

  let latest = null;
  const cancel = h("button", { id: "cancel", class: "danger", onclick: async () => {
    if (!await confirmAction(`Cancel run ${runId}? Its waits and hooks are dropped.`, "Cancel run")) return;
    const done = await api(`/v1/runs/${runId}/cancel`, { method: "POST" }).catch(reportError);
    if (done) notice.textContent = `Run ${done.status}.`;
    await refresh();
  } }, "Cancel run");
  const rerun = h("button", { id: "rerun", class: "quiet", onclick: async () => {
    if (!await confirmAction(`Start a new run of ${latest ? latest.workflow : "this workflow"} with the same input?`, "Rerun")) return;
    const started = await api(`/v1/runs/${runId}/rerun`, { method: "POST" }).catch(reportError);
    if (started) window.location.hash = `#/runs/${encodeURIComponent(started.run_id)}`;
  } }, "Rerun");
  const decrypt = h("button", { id: "decrypt", class: "quiet", onclick: async () => {
    decrypt.disabled = true;
    try {
      const data = await api(`/v1/runs/${runId}/events?decrypt=true`);
      for (const event of data.events) state.decrypted.set(event.event_id, event.data);
      notice.textContent = `Decrypted ${data.events.length} events; this access is recorded in the audit log.`;
      state.rendered = "";
      await refresh();
    } catch (error) { reportError(error); } finally { decrypt.disabled = false; }
  } }, "Decrypt values");
  actions.append(cancel, rerun, decrypt);

  const refresh = async () => {
    const [run, timeline, log] = await Promise.all([
      api(`/v1/runs/${runId}`), api(`/v1/runs/${runId}/timeline`), api(`/v1/runs/${runId}/events`)]);
    latest = run;
    state.ended = TERMINAL.has(run.status);
    cancel.disabled = state.ended;
    renderHeader(header, run, log.events);
    const pending = liveHooks(timeline);
    const key = JSON.stringify([run.status, log.events.length, state.decrypted.size, pending.length]);
    if (key !== state.rendered) {
      state.rendered = key;
      renderValues(values, log.events, state.decrypted);
      renderErrors(errors, log.events, state.decrypted);
      renderHooks(hooks, pending, runId, refresh);
      renderEvents(events, log.events, state.decrypted);
    }
    renderGantt(gantt, timeline);
    await watchStreams(streams, runId, state);
    setLive(state.ended ? `run ${run.status}` : `live · updated ${new Date().toLocaleTimeString()}`);
  };
  const poll = poller(async () => { await refresh(); if (state.ended && state.streamsSettled) poll.stop(); }, 1000);
  return { stop() { poll.stop(); for (const s of state.streams.values()) s.stop(); } };
}

/** The run's facts. Re-rendered only when one of them changes (the duration of a live run
 * is updated in place), so a focused link in the header keeps the keyboard focus. */
function renderHeader(header, run, events) {
  const created = events.find((e) => e.type === "run_created") || {};
  const key = JSON.stringify([run.status, run.workflow, run.created_at, run.deployment,
    run.attributes, run.error_code, created.rerun_of, run.parent_run_id]);
  if (header.dataset.key === key) {
    const shown = header.querySelector("#run-duration");
    if (shown) shown.textContent = runDuration(run);
    return;
  }
  header.dataset.key = key;
  const rows = [["Status", badge(run.status)], ["Workflow", run.workflow],
    ["Started", when(run.created_at)], ["Duration", h("span", { id: "run-duration" }, runDuration(run))]];
  rows.push(["Deployment", run.deployment
    ? h("a", { href: `#/runs?deployment=${encodeURIComponent(run.deployment)}`, id: "run-deployment",
      class: "mono", title: "Runs of this deployment" }, run.deployment)
    : h("span", { class: "muted", id: "run-deployment" }, "unpinned (the first host to run it pins it)")]);
  rows.push(["Attributes", attributeList(run.attributes || {})]);
  if (run.error_code) rows.push(["Error code", run.error_code]);
  if (created.rerun_of) rows.push(["Rerun of", h("a", { href: `#/runs/${encodeURIComponent(created.rerun_of)}`, id: "rerun-of" }, created.rerun_of)]);
  if (run.parent_run_id) rows.push(["Parent", h("a", { href: `#/runs/${encodeURIComponent(run.parent_run_id)}` }, run.parent_run_id)]);
  const focused = document.activeElement && header.contains(document.activeElement)
    ? document.activeElement.getAttribute("href") : null;
  header.replaceChildren(h("h1", { class: "mono" }, run.run_id),
    h("dl", { class: "meta" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  if (focused) {
    const again = [...header.querySelectorAll("a[href]")].find((a) => a.getAttribute("href") === focused);
    if (again) again.focus();
  }
}

/** A run's `set_attributes()` values: plaintext by design (never encrypted), each a link to
 * the runs with the same attribute. */
function attributeList(attributes) {
  const names = Object.keys(attributes).sort();
  if (!names.length) return h("span", { class: "muted", id: "run-attributes" }, "none");
  return h("ul", { class: "attributes", id: "run-attributes" }, names.map((name) => {
    const pair = `${name}=${attributes[name]}`;
    return h("li", { "data-name": name },
      h("a", { href: `#/runs?${new URLSearchParams({ attr: pair })}`, class: "mono", title: "Runs with this attribute" }, pair));
  }));
}

function dataOf(event, decrypted) {
  return decrypted.has(event.event_id) ? { open: true, value: decrypted.get(event.event_id) }
    : { open: false, value: event.data };
}

function valueCell(event, decrypted) {
  if (!event || !("data" in event)) return h("span", { class: "muted" }, "—");
  const data = dataOf(event, decrypted);
  return data.open ? showValue(data.value) : sealedNote(data.value);
}

function renderValues(box, events, decrypted) {
  const created = events.find((e) => e.type === "run_created");
  const ending = events.find((e) => e.type === "run_completed" || e.type === "run_failed");
  box.replaceChildren(
    h("div", { class: "card", id: "input" }, h("strong", {}, "Input"), h("div", {}, valueCell(created, decrypted))),
    h("div", { class: "card", id: "output" }, h("strong", {}, ending && ending.type === "run_failed" ? "Failure" : "Output"),
      h("div", {}, ending ? valueCell(ending, decrypted) : h("span", { class: "muted" }, "not yet"))));
}

function renderErrors(box, events, decrypted) {
  const failures = events.filter((e) => ["step_retrying", "step_failed", "run_failed"].includes(e.type));
  if (!failures.length) { box.replaceChildren(h("p", { class: "muted" }, "No errors.")); return; }
  const rows = failures.map((e) => {
    const data = dataOf(e, decrypted);
    const message = data.open ? (data.value && data.value.message) ?? JSON.stringify(data.value)
      : sealedNote(data.value);
    return h("tr", { class: "error-row" }, h("td", { title: e.step_name || "" }, e.step_name ? shortName(e.step_name) : "(run)"),
      h("td", { class: "num" }, e.attempt ?? ""), h("td", {}, e.type.replace("_", " ")),
      h("td", { title: e.error_type || "" }, e.error_type ? shortName(e.error_type) : e.code || ""),
      h("td", { class: "error-message" }, message));
  });
  box.replaceChildren(h("div", { class: "scroll" }, h("table", { id: "errors-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Step"), h("th", { class: "num" }, "Attempt"),
      h("th", {}, "Outcome"), h("th", {}, "Type"), h("th", {}, "Message"))), h("tbody", {}, rows))));
}

/** The run's hooks still waiting for payloads: neither disposed nor in conflict, and the run
 * has not ended (docs/api.md, "Timeline"). */
function liveHooks(timeline) {
  if (timeline.ended_at) return [];
  return timeline.hooks.filter((hook) => !hook.disposed_at && !hook.conflict);
}

function renderHooks(box, hooks, runId, refresh) {
  if (!hooks.length) { box.replaceChildren(h("p", { class: "muted" }, "No live hooks.")); return; }
  box.replaceChildren(...hooks.map((hook) => {
    const field = `payload-${hook.hook_id}`;
    const text = h("textarea", { id: field, name: "payload", class: "mono", rows: 2 }, "{}");
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "hook-form card", "data-hook-id": hook.hook_id, onsubmit: async (e) => {
      e.preventDefault();
      let payload;
      try { payload = JSON.parse(text.value); } catch (err) { error.textContent = `Not JSON: ${err.message}`; return; }
      try {
        await api(`/v1/runs/${runId}/hooks/${encodeURIComponent(hook.hook_id)}/resume`, { method: "POST", body: JSON.stringify(payload) });
        error.textContent = "";
        document.getElementById("notice").textContent = `Delivered to ${hook.hook_id}.`;
        await refresh();
      } catch (err) { error.textContent = err.message; }
    } },
      h("div", {}, h("strong", { class: "mono" }, hook.hook_id), " ",
        h("span", { class: "muted" }, `created ${when(hook.created_at)} · ${hook.received_at.length} received`)),
      h("label", { for: field }, "Payload (JSON)"), text, error,
      h("button", { type: "submit", class: "resume" }, "Resume hook"));
    return form;
  }));
}

function renderEvents(body, events, decrypted) {
  const skip = new Set(["seq", "type", "event_id", "created_at", "correlation_id", "data"]);
  body.replaceChildren(...events.map((e) => {
    const attrs = Object.fromEntries(Object.entries(e).filter(([k]) => !skip.has(k)));
    const details = h("div", {}, Object.keys(attrs).length ? h("code", {}, JSON.stringify(attrs)) : "");
    if ("data" in e) details.append(h("div", {}, valueCell(e, decrypted)));
    return h("tr", { "data-type": e.type }, h("td", { class: "num" }, e.seq),
      h("td", { class: "mono" }, new Date(e.created_at).toISOString().slice(11, 23)),
      h("td", {}, e.type), h("td", { class: "mono hide-narrow" }, e.correlation_id || ""), h("td", {}, details));
  }));
}

// --- hooks -------------------------------------------------------------------------------------

function hooksPage(params) {
  document.title = "Hooks · steplane";
  const cursor = params.get("cursor") || "";
  const body = h("tbody", { id: "hooks-body" });
  const pager = h("div", { class: "pager" });
  main.append(h("h1", {}, "Live hooks"),
    h("p", { class: "muted" }, "Hooks waiting for a payload, by token fingerprint (the token itself is never shown)."),
    h("p", { class: "error", id: "page-error", role: "alert" }),
    h("div", { class: "scroll" }, h("table", { id: "hooks-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Token"), h("th", {}, "Workflow"), h("th", {}, "Run"),
        h("th", { class: "hide-narrow" }, "Hook"), h("th", {}, "Age"), h("th", { class: "num" }, "Received"))), body)),
    pager);
  const go = (next) => { window.location.hash = next ? `#/hooks?cursor=${encodeURIComponent(next)}` : "#/hooks"; };
  return poller(async () => {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const { hooks, next_cursor: next } = await api(`/v1/hooks?${query}`);
    keepFocus(body, () => body.replaceChildren(...(hooks.length ? hooks.map((hook) => h("tr", { "data-run-id": hook.run_id, "data-hook-id": hook.hook_id },
      h("td", { class: "mono" }, hook.token_fingerprint), h("td", {}, hook.workflow || "—"),
      h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(hook.run_id)}`, class: "run-link mono" }, hook.run_id)),
      h("td", { class: "mono hide-narrow" }, hook.hook_id), h("td", {}, hook.age_seconds === null ? "?" : duration(hook.age_seconds)),
      h("td", { class: "num" }, hook.received))) : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No live hooks."))])));
    pager.replaceChildren(
      cursor ? h("button", { class: "quiet", id: "hooks-first", onclick: () => go("") }, "← First page") : "",
      next ? h("button", { class: "quiet", id: "hooks-next", onclick: () => go(next) }, "More →") : "");
    setLive(`live · updated ${new Date().toLocaleTimeString()}`);
  }, 3000);
}

route();
