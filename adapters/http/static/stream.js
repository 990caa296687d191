// steplane web UI: live stream viewers of the run page (GET /v1/runs/{id}/streams/{name}:
// each connection is an audited decrypt, so it needs a key that may decrypt).
// Loaded before app.js, whose helpers (h, api, ApiError, ROOT) it calls once the page runs.
"use strict";

// --- streams -------------------------------------------------------------------------------

/** Keep one viewer per stream of the run; new streams appear as the run writes them. */
async function watchStreams(box, runId, state) {
  const { streams } = await api(`/v1/runs/${runId}/streams`);
  for (const name of streams) {
    if (state.streams.has(name)) continue;
    const placeholder = document.getElementById("no-streams");
    if (placeholder) placeholder.remove();
    const viewer = streamViewer(runId, name);
    state.streams.set(name, viewer);
    box.append(viewer.element);
  }
  state.streamsSettled = state.ended && [...state.streams.values()].every((v) => v.done);
}

/** A stream read as Server-Sent Events with fetch, so the request can carry Last-Event-ID:
 * chunks received are kept in sessionStorage, and after a reload (or a dropped connection)
 * the viewer asks for what follows the last one, so nothing is missed or shown twice. */
function streamViewer(runId, name) {
  const storeKey = `steplane:stream:${runId}:${name}`;
  const saved = JSON.parse(sessionStorage.getItem(storeKey) || "null") || { last: -1, chunks: [] };
  const list = h("ol", { class: "stream", start: 0, "data-stream": name });
  const status = h("p", { class: "muted stream-status", "aria-live": "polite" });
  const element = h("div", { class: "card stream-card", "data-stream": name },
    h("strong", {}, name), status, list);
  const show = (index, value) => {
    const item = h("li", { value: index, "data-index": index }, typeof value === "string" ? value : JSON.stringify(value));
    list.append(item);
    list.scrollTop = list.scrollHeight;
  };
  for (const [index, value] of saved.chunks) show(index, value);
  const controller = new AbortController();
  const viewer = { element, done: false, stop() { controller.abort(); } };
  const save = () => sessionStorage.setItem(storeKey, JSON.stringify(saved));

  async function connect(attempt) {
    const headers = { Accept: "text/event-stream" };
    if (saved.last >= 0) headers["Last-Event-ID"] = String(saved.last);
    status.textContent = saved.last >= 0 ? `resumed after chunk ${saved.last} (Last-Event-ID: ${saved.last})` : "live";
    const response = await fetch(`${ROOT}/v1/runs/${runId}/streams/${encodeURIComponent(name)}`,
      { credentials: "same-origin", headers, signal: controller.signal });
    if (!response.ok) { // 403: the key may not decrypt (chunks are user values, and audited)
      const body = await response.json().catch(() => ({}));
      throw new ApiError(response.status, `stream ${name}: ${body.error || "HTTP " + response.status}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const fields = { data: [] };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const at = line.indexOf(":");
          const field = at < 0 ? line : line.slice(0, at);
          const text = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
          if (field === "data") fields.data.push(text); else fields[field] = text;
        }
        if (fields.event === "end") {
          viewer.done = true;
          status.textContent = `ended · ${saved.chunks.length} chunks`;
          return;
        }
        if (fields.id === undefined) continue;
        const index = Number(fields.id);
        if (index <= saved.last) continue; // never show a chunk twice
        const chunk = JSON.parse(fields.data.join("\n"));
        saved.last = index;
        saved.chunks.push([index, chunk]);
        save();
        show(index, chunk);
      }
    }
    if (!viewer.done && attempt < 50) return connect(attempt + 1); // dropped: resume
  }
  connect(0).catch((error) => {
    if (error.name !== "AbortError") status.textContent = error.message;
  });
  return viewer;
}
