// steplane web UI: the run page's timeline, drawn from GET /v1/runs/{id}/timeline (the
// `Timeline` of runtime/describe.py, docs/api.md "Shapes"). Loaded before app.js, whose
// helpers (h, seconds, duration, shortName) it calls once the page runs.
"use strict";

// --- from the timeline to bars ------------------------------------------------------------------

/** The timeline's steps, waits and hooks as Gantt rows in the order the workflow made them
 * (`seq`), times in epoch seconds. A bar still open ends at the axis's end: the run's ending,
 * or now (at least the latest time the timeline holds) while it runs. */
function ganttRows(timeline) {
  const times = [];
  const t = (iso) => { const s = seconds(iso); if (s !== null) times.push(s); return s; };
  const rows = [];
  for (const step of timeline.steps) {
    const row = { kind: "step", id: step.step_id, seq: step.seq, name: step.step_name,
      start: t(step.created_at), end: t(step.ended_at), attempts: [], backoff: [] };
    let mark = row.start; // where the next attempt begins: the step's creation, or a back-off's end
    for (const a of step.attempts) {
      const attempt = { attempt: a.attempt, outcome: a.outcome || "running", error_type: a.error_type,
        start: t(a.started_at) ?? mark, end: t(a.ended_at) };
      row.attempts.push(attempt);
      if (a.outcome === "retrying" && attempt.end !== null) {
        const until = Math.max(t(a.retry_at) ?? attempt.end, attempt.end);
        row.backoff.push({ start: attempt.end, end: until });
        mark = until;
      }
    }
    const last = step.attempts[step.attempts.length - 1];
    if (row.end === null && (!last || last.outcome !== null)) {
      row.attempts.push({ attempt: step.attempts.length + 1, outcome: "running", start: mark, end: null });
    }
    rows.push(row);
  }
  for (const wait of timeline.waits) {
    rows.push({ kind: "wait", id: wait.wait_id, seq: wait.seq, name: "sleep",
      start: t(wait.created_at), end: t(wait.completed_at), resume_at: t(wait.resume_at) });
  }
  for (const hook of timeline.hooks) {
    const start = t(hook.created_at);
    rows.push({ kind: "hook", id: hook.hook_id, seq: hook.seq, name: "hook", start,
      end: hook.conflict ? start : t(hook.disposed_at), conflict: hook.conflict,
      received: hook.received_at.map(t) });
  }
  rows.sort((a, b) => a.seq - b.seq);
  const start = seconds(timeline.started_at) ?? Math.min(...times, Date.now() / 1000);
  const ended = timeline.ended_at !== null;
  const end = ended ? seconds(timeline.ended_at) : Math.max(Date.now() / 1000, ...times);
  for (const row of rows) {
    row.open = row.end === null;
    if (row.open) row.end = end;
    for (const a of row.attempts || []) if (a.end === null) a.end = end;
    for (const b of row.backoff || []) b.end = Math.min(b.end, end);
  }
  return { start, end, ended, rows };
}

// --- the Gantt chart ---------------------------------------------------------------------------

function legend() {
  const item = (cls, text) => h("span", {}, h("i", { class: `bar-key ${cls}` }), text);
  const box = h("div", { class: "legend" }, item("completed", "attempt ok"), item("retrying", "attempt failed, retried"),
    item("failed", "failed for good"), item("running", "running"), item("backoff", "back-off"),
    item("wait", "sleep"), item("hook", "hook (ticks: payloads)"));
  for (const key of box.querySelectorAll("i")) key.classList.add("bar");
  for (const key of box.querySelectorAll("i")) { key.style.position = "static"; key.style.display = "inline-block"; }
  return box;
}

function renderGantt(box, data) {
  const timeline = ganttRows(data);
  const span = Math.max(timeline.end - timeline.start, 0.001);
  const pct = (t) => `${(100 * (t - timeline.start) / span).toFixed(3)}%`;
  const width = (a, b) => `${(100 * Math.max(b - a, 0) / span).toFixed(3)}%`;
  const bar = (cls, start, end, title) => {
    const el = h("div", { class: `bar ${cls}`, title });
    el.style.left = pct(start);
    el.style.width = width(start, end);
    return el;
  };
  const scale = h("div", { class: "gantt-scale" },
    [0, 0.25, 0.5, 0.75, 1].map((f) => { const s = h("span", {}, `+${duration(f * span)}`); s.style.left = `${f * 100}%`; return s; }));
  const rows = timeline.rows.map((row, index) => {
    const track = h("div", { class: "gantt-track" });
    if (row.kind === "step") {
      for (const b of row.backoff) track.append(bar("backoff", b.start, b.end, `back-off ${duration(b.end - b.start)}`));
      for (const a of row.attempts) {
        const el = bar(a.outcome, a.start, a.end, `attempt ${a.attempt}: ${a.outcome}${a.error_type ? " (" + a.error_type + ")" : ""}, ${duration(a.end - a.start)}`);
        el.dataset.attempt = a.attempt;
        el.dataset.outcome = a.outcome;
        track.append(el);
      }
    } else {
      const note = row.conflict ? ` (conflict: ${row.conflict})` : row.open ? " (open)" : "";
      const el = bar(row.kind, row.start, row.end, `${row.kind} ${duration(row.end - row.start)}${note}`);
      if (row.open) el.classList.add("open");
      track.append(el);
      for (const t of row.received || []) {
        const tick = h("div", { class: "tick", title: `payload at +${duration(t - timeline.start)}` });
        tick.style.left = pct(t);
        track.append(tick);
      }
    }
    const label = row.kind === "step" ? shortName(row.name) : row.kind === "wait" ? "sleep" : "hook";
    return h("div", { class: "gantt-row", "data-kind": row.kind, "data-name": label, "data-index": index },
      h("div", { class: "gantt-label", title: `${row.name} · ${row.id}` }, label), track);
  });
  box.replaceChildren(h("div", { class: "gantt-axis" }, h("span", {}, timeline.ended ? "ended" : "live"), scale),
    ...(rows.length ? rows : [h("p", { class: "muted" }, "No steps yet.")]));
}
