// steplane web UI: the run page's timeline, drawn from GET /v1/runs/{id}/timeline
// (adapters/http/timeline.py). Loaded before app.js, whose helpers (h, duration, shortName)
// it calls once the page runs.
"use strict";

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

function renderGantt(box, timeline) {
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
      const el = bar(row.kind, row.start, row.end, `${row.kind} ${duration(row.end - row.start)}${row.open ? " (open)" : ""}`);
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
