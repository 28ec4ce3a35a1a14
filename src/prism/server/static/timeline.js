// The dashboard's label editor: a recording session's step labels on a timeline (SVG,
// width = the session's length) that a researcher corrects and saves.
//
// The labels (GET /v1/sessions/{id}/labels) become segments covering the whole session,
// the gaps as "other" (step null). Between two segments is a boundary: drag it (pointer
// events) or focus it and press ←/→ (Shift: 5 s). Click or focus a segment to select it;
// the select renames it; Split cuts it in two halves; Merge joins it with the next one.
// Save sends every segment (PUT, the server drops the "other" ones) and shows what the
// server kept.

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                 "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const OTHER = "#c8c8c8";
const MIN_S = 0.1;  // shortest segment a drag leaves (s)
const HEIGHT = 56;

/** Segments covering [0, duration]: the labelled ones and, between them, "other" ones. */
export function covering(labels, duration) {
  const out = [];
  let at = 0;
  for (const s of labels) {
    if (s.start > at) out.push({ start: at, end: s.start, step: null });
    out.push({ start: s.start, end: s.end, step: s.step });
    at = s.end;
  }
  if (duration > at) out.push({ start: at, end: duration, step: null });
  return out;
}

/** Move the boundary after segment ``index`` to ``t`` (s), kept MIN_S inside both sides. */
export function moveBoundary(segments, index, t) {
  const left = segments[index], right = segments[index + 1];
  const clamped = Math.min(Math.max(t, left.start + MIN_S), right.end - MIN_S);
  left.end = right.start = Math.round(clamped * 100) / 100;
}

export class TimelineEditor {
  constructor(root) {
    this.root = root;
    this.svg = root.querySelector("svg");
    this.select = root.querySelector("select");
    this.status = root.querySelector("[role=status]");
    this.sessionId = null;
    this.segments = [];
    this.steps = [];
    this.duration = 1;
    this.selected = 0;
    this.select.onchange = () => this.rename(this.select.value || null);
    root.querySelector("[data-action=split]").onclick = () => this.split();
    root.querySelector("[data-action=merge]").onclick = () => this.merge();
    root.querySelector("[data-action=save]").onclick = () => this.save();
    root.querySelector("[data-action=reload]").onclick = () => this.load(this.sessionId);
    new ResizeObserver(() => this.render()).observe(this.svg);
  }

  /** Show a session's labels (loaded once per session: edits are kept between refreshes). */
  show(sessionId) {
    if (sessionId !== this.sessionId) this.load(sessionId);
  }

  async load(sessionId) {
    this.sessionId = sessionId;
    const link = this.root.querySelector("a[download]");
    link.href = "/v1/sessions/" + encodeURIComponent(sessionId) + "/recording";
    this.say("loading the labels…");
    const response = await fetch(this.url(), { credentials: "same-origin" });
    if (!response.ok) { this.say(await this.refusal(response)); return; }
    this.take(await response.json());
    this.say("labels from " + (this.source === "saved" ? "the last save" : "the marks"));
  }

  take(labels) {
    this.steps = labels.steps;
    this.duration = labels.duration;
    this.source = labels.source;
    this.segments = covering(labels.segments, labels.duration);
    this.selected = Math.min(this.selected, this.segments.length - 1);
    this.select.replaceChildren(new Option("other (no step)", ""),
      ...this.steps.map((s) => new Option(s.name, s.id)));
    this.render();
  }

  url() { return "/v1/sessions/" + encodeURIComponent(this.sessionId) + "/labels"; }
  say(message) { this.status.textContent = message; }
  x(t) { return (t / this.duration) * this.svg.clientWidth; }
  time(clientX) {
    const box = this.svg.getBoundingClientRect();
    return ((clientX - box.left) / box.width) * this.duration;
  }
  name(step) { return step === null ? "other" : (this.steps.find((s) => s.id === step)?.name ?? step); }
  color(step) {
    const index = this.steps.findIndex((s) => s.id === step);
    return index < 0 ? OTHER : PALETTE[index % PALETTE.length];
  }

  render() {
    const svg = this.svg;
    svg.replaceChildren();
    svg.setAttribute("height", HEIGHT);
    this.segments.forEach((segment, index) => {
      const group = document.createElementNS(SVG, "g");
      group.setAttribute("class", "segment" + (index === this.selected ? " selected" : ""));
      group.setAttribute("tabindex", "0");
      group.setAttribute("role", "button");
      group.dataset.index = index;
      group.setAttribute("aria-label", this.name(segment.step) + " from "
        + segment.start.toFixed(1) + " to " + segment.end.toFixed(1) + " s");
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", this.x(segment.start));
      rect.setAttribute("y", 4);
      rect.setAttribute("width", Math.max(1, this.x(segment.end) - this.x(segment.start)));
      rect.setAttribute("height", HEIGHT - 8);
      rect.setAttribute("fill", this.color(segment.step));
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", this.x(segment.start) + 3);
      label.setAttribute("y", HEIGHT / 2 + 4);
      label.textContent = this.name(segment.step);
      const tip = document.createElementNS(SVG, "title");
      tip.textContent = group.getAttribute("aria-label");
      group.append(rect, label, tip);
      group.onclick = group.onfocus = () => this.choose(index);
      svg.appendChild(group);
    });
    for (let index = 0; index + 1 < this.segments.length; index++) this.boundary(index);
    const chosen = this.segments[this.selected];
    if (chosen) this.select.value = chosen.step ?? "";
  }

  /** The draggable handle between segment ``index`` and the next. */
  boundary(index) {
    const t = this.segments[index].end;
    const handle = document.createElementNS(SVG, "rect");
    handle.setAttribute("class", "boundary");
    handle.setAttribute("x", this.x(t) - 4);
    handle.setAttribute("y", 0);
    handle.setAttribute("width", 8);
    handle.setAttribute("height", HEIGHT);
    handle.setAttribute("tabindex", "0");
    handle.setAttribute("role", "slider");
    handle.setAttribute("aria-label", "boundary " + (index + 1) + " at " + t.toFixed(1) + " s");
    handle.setAttribute("aria-valuenow", t.toFixed(2));
    handle.dataset.index = index;
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      try { handle.setPointerCapture(event.pointerId); } catch (_) { /* a synthetic pointer */ }
      const move = (moved) => {
        moveBoundary(this.segments, index, this.time(moved.clientX));
        this.place(handle, index);
      };
      const stop = () => {
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", stop);
        handle.removeEventListener("pointercancel", stop);
        this.edited();
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", stop);
      handle.addEventListener("pointercancel", stop);
    });
    handle.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? 5 : 0.5;
      const by = { ArrowLeft: -step, ArrowRight: step }[event.key];
      if (by === undefined) return;
      event.preventDefault();
      moveBoundary(this.segments, index, this.segments[index].end + by);
      this.edited();
      this.svg.querySelector(".boundary[data-index='" + index + "']").focus();
    });
    this.svg.appendChild(handle);
  }

  /** Follow a drag without redrawing everything (the handle keeps its pointer). */
  place(handle, index) {
    const left = this.segments[index], right = this.segments[index + 1];
    const rects = this.svg.querySelectorAll("g.segment");
    const set = (group, segment) => {
      group.querySelector("rect").setAttribute("x", this.x(segment.start));
      group.querySelector("rect").setAttribute("width", Math.max(1, this.x(segment.end) - this.x(segment.start)));
      group.querySelector("text").setAttribute("x", this.x(segment.start) + 3);
    };
    set(rects[index], left);
    set(rects[index + 1], right);
    handle.setAttribute("x", this.x(left.end) - 4);
    handle.setAttribute("aria-valuenow", left.end.toFixed(2));
  }

  choose(index) {
    if (index === this.selected) return;
    this.selected = index;
    this.svg.querySelectorAll("g.segment").forEach((g, i) => g.classList.toggle("selected", i === index));
    this.select.value = this.segments[index].step ?? "";
  }

  rename(step) {
    this.segments[this.selected].step = step;
    this.edited();
  }

  split() {
    const segment = this.segments[this.selected];
    if (segment.end - segment.start < 2 * MIN_S) return;
    const middle = Math.round(((segment.start + segment.end) / 2) * 100) / 100;
    this.segments.splice(this.selected + 1, 0, { start: middle, end: segment.end, step: segment.step });
    segment.end = middle;
    this.edited();
  }

  merge() {
    const segment = this.segments[this.selected], next = this.segments[this.selected + 1];
    if (!next) return;
    segment.end = next.end;
    this.segments.splice(this.selected + 1, 1);
    this.edited();
  }

  edited() {
    this.render();
    this.say("edited: not saved yet");
  }

  async save() {
    this.say("saving…");
    const response = await fetch(this.url(), {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(this.segments),
    });
    if (!response.ok) { this.say(await this.refusal(response)); return; }
    this.take(await response.json());
    this.say("saved");
  }

  async refusal(response) {
    if (response.status === 401) return "You are logged out: reload the page and log in again.";
    let detail = "";
    try {
      const body = await response.json();
      detail = Array.isArray(body.detail)
        ? body.detail.map((d) => "segment " + d.loc[1] + ": " + d.msg).join("; ")
        : body.detail;
    } catch (_) { /* not JSON */ }
    return "Not saved (" + response.status + (detail ? ": " + detail : "") + ").";
  }
}
