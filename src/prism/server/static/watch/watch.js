// The PrISM web client: a phone or a watch with a browser as a PrISM watch. It pairs with
// a one-time code, streams motion and microphone audio as watch protocol v1 frames over
// the session's WebSocket, and shows what the service says (watch_bridge/README.md).
import { KIND, Outbox, decodeFrame, encodeFrame, toInt16 } from "./protocol.js";
import { ImuGrid, MotionClock } from "./resample.js";

const FRAME_EVERY_MS = 200;  // one IMU batch and one audio chunk per 0.2 s
const ACK_EVERY_MS = 1000;
const MAX_IMU_SAMPLES = 500;  // per frame (protocol)
const MAX_QUESTION_S = 30;
const MIN_QUESTION_S = 0.3;
const QUESTION_TAIL_S = 0.25;  // kept after the button is let go: the last word's end
const RECENT_S = 1.5;  // audio kept for a question whose sound arrives after the press
const MOTION_WAIT_MS = 3000;  // no motion event by then: no motion sensor
const MAX_BUFFERED_BYTES = 1 << 20;  // hold messages while the socket has this much unsent
const DEG = Math.PI / 180;
const WORKLET = "watch/capture-worklet.js";
const FATAL_CLOSES = {
  4001: "This page speaks another protocol version than the service: reload it.",
  4010: "This session was opened on another screen.",
  4401: "This device is no longer paired: pair it again.",
  4404: "This session no longer exists on the service.",
};

const $ = (id) => document.getElementById(id);

/** localStorage as JSON, under "prism." (private browsing may refuse it: kept in memory). */
const saved = {
  memory: new Map(),
  get(key) {
    try { return JSON.parse(localStorage.getItem(`prism.${key}`)); } catch { return this.memory.get(key) ?? null; }
  },
  set(key, value) {
    try { localStorage.setItem(`prism.${key}`, JSON.stringify(value)); } catch { this.memory.set(key, value); }
  },
  remove(key) {
    try { localStorage.removeItem(`prism.${key}`); } catch { this.memory.delete(key); }
  },
};

/** What the page shows about itself (the "details" line; tests read it too). */
const stats = {
  framesMade: 0, framesSent: 0, unconfirmed: 0, motionEvents: 0, audioChunks: 0, steps: [], latenciesMs: [],
  spokenAnswers: 0, reconnects: 0, dropped: 0, audioStartMs: null, marks: [],
};
window.prismWatch = { stats };

const app = {
  device: saved.get("device"),  // {device_id, token, task}
  procedure: null,  // {id, name, names: Map, privacy}
  session: null,  // {id, originMs, lastReceived, privacy}
  ws: null, welcomed: false, outbox: new Outbox(), lastAcked: 0, lastAckAt: 0,
  sentAt: new Map(), timer: null, retry: 0, reconnectTimer: null, finishing: false,
  grid: null, motionClock: null, motion: "off", mic: "off",
  audio: null,  // {context, stream, node}
  audioClock: null,  // {anchor (s), produced, lowProduced}
  audioHeld: null,  // {t0, rate, parts: Float32Array[], n}
  recent: [],  // the last 16 kHz chunks, [{t0 (s), pcm}], over RECENT_S of audio
  question: null,  // {from, until (s of session time; null while held), parts: [{t0, pcm}]}
  wakeLock: null, answerSource: null,
};

function nowMs() { return performance.timeOrigin + performance.now(); }
function sessionTime() { return (nowMs() - app.session.originMs) / 1000; }

function show(id, visible) { $(id).hidden = !visible; }
function say(id, text) { $(id).textContent = text; }
function problem(text) { say("problem", text || ""); show("problem", Boolean(text)); }
function status(text, kind) { const node = $("status"); node.textContent = text; node.dataset.kind = kind; }
function stepName(id) { return id === null || id === undefined ? null : (app.procedure?.names.get(id) ?? id); }

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (app.device) headers.Authorization = `Bearer ${app.device.token}`;
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, data };
}

function reason(reply) {
  const detail = reply.data?.detail ?? reply.data?.message;
  return typeof detail === "string" ? detail : `status ${reply.status}`;
}

// ---- pairing -------------------------------------------------------------------------

async function claim(code) {
  problem("");
  const name = `web client (${navigator.platform || "browser"})`.slice(0, 100);
  let reply;
  try {
    reply = await api("POST", "v1/pairings/claim", { code: code.trim(), name });
  } catch {
    problem("The service cannot be reached: check the network and try again.");
    return;
  }
  if (reply.status === 404) {
    problem("This pairing code is unknown, used or expired: ask for a new one.");
  } else if (reply.status !== 200) {
    problem(`Pairing failed: ${reason(reply)}.`);
  } else {
    const { device_id, token, task } = reply.data;
    app.device = { device_id, token, task };
    saved.set("device", app.device);
    saved.remove("session");
  }
  history.replaceState(null, "", location.pathname);  // the code is spent: not kept in the URL
  await showHome();
}

function unpair(message) {
  stopSession();
  app.device = null;
  saved.remove("device");
  saved.remove("session");
  showHome().then(() => problem(message));
}

// ---- home ----------------------------------------------------------------------------

async function showHome() {
  for (const id of ["pairing", "start-panel", "live", "finished"]) show(id, false);
  if (!app.device) { show("pairing", true); return; }
  let reply;
  try {
    reply = await api("GET", `v1/procedures/${encodeURIComponent(app.device.task)}`);
  } catch {
    problem("The service cannot be reached: check the network, then reload.");
    return;
  }
  if (reply.status !== 200) { problem(`The procedure "${app.device.task}" is not available: ${reason(reply)}.`); return; }
  const names = new Map(reply.data.steps.map((s) => [s.id, s.name]));
  app.procedure = { id: reply.data.id, name: reply.data.name, names, privacy: Boolean(reply.data.privacy_audio) };
  say("task", app.procedure.name);
  say("start", `Start ${app.procedure.name.toLowerCase()}`);
  const privacy = $("privacy");
  privacy.disabled = !app.procedure.privacy;
  privacy.checked = app.procedure.privacy && Boolean(saved.get("privacy"));
  say("privacy-note", app.procedure.privacy
    ? "Audio leaves this device at 1 kHz only: sounds, not words."
    : "This procedure has no privacy-mode model: audio is sent at 16 kHz.");
  $("speak").checked = saved.get("speak") ?? true;
  show("resume", Boolean(saved.get("session")));
  show("start-panel", true);
}

// ---- starting a session --------------------------------------------------------------

async function start(resume) {
  problem("");
  $("start").disabled = $("resume").disabled = true;
  try {
    const privacy = resume ? Boolean(saved.get("session")?.privacy) : $("privacy").checked;
    const context = audioContext();  // within the tap
    const motion = askMotion();  // iOS: must be asked within the tap
    if (resume) {
      app.session = saved.get("session");
    } else {
      const body = { procedure: app.device.task };
      if (privacy) body.privacy = true;
      const reply = await api("POST", "v1/sessions", body);
      if (reply.status === 401) { context?.close(); unpair("This device is no longer paired: pair it again."); return; }
      if (reply.status !== 200) { throw new Error(`The service did not start a session: ${reason(reply)}.`); }
      app.session = { id: reply.data.session_id, originMs: nowMs(), lastReceived: 0, privacy };
      saved.set("session", app.session);
    }
    saved.set("privacy", app.session.privacy);
    saved.set("speak", $("speak").checked);
    await motion;
    app.audio = await openMicrophone(context, privacy);
    show("start-panel", false);
    $("reminders").replaceChildren();
    $("confirm").hidden = true;
    show("answer-box", false);
    say("asked", "");
    show("live", true);
    renderStep({ current: null, probability: 0, next: [] });
    startSensors();
    connect();
    app.timer = setInterval(tick, FRAME_EVERY_MS);
    keepAwake();
  } catch (error) {
    stopSession();
    problem(error.message || String(error));
  } finally {
    $("start").disabled = $("resume").disabled = false;
  }
}

async function askMotion() {
  if (typeof DeviceMotionEvent === "undefined") { app.motion = "missing"; return; }
  if (typeof DeviceMotionEvent.requestPermission === "function") {
    try {
      app.motion = (await DeviceMotionEvent.requestPermission()) === "granted" ? "waiting" : "refused";
    } catch { app.motion = "refused"; }
  } else {
    app.motion = "waiting";
  }
}

/** An audio context at the device's rate (the capture worklet resamples to 16 kHz); null
 * without Web Audio. */
function audioContext() {
  return "AudioContext" in window ? new AudioContext() : null;
}

/** The microphone into the capture worklet (connected as soon as the device gives sound,
 * so that little is lost); null without a microphone or audio worklets. */
async function openMicrophone(context, privacy) {
  if (!context || !navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === "undefined") {
    app.mic = window.isSecureContext ? "missing" : "insecure";
    return context ? { context, stream: null, node: null, privacyRate: null } : null;
  }
  const privacyRate = privacy ? 1000 : null;
  let stream = null;
  try {
    await context.audioWorklet.addModule(WORKLET);  // first: the sound is taken as soon as it comes
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    let node;
    try {
      node = captureNode(context, stream, privacyRate);
    } catch (error) {
      if (error?.name !== "NotSupportedError") throw error;
      await context.close();  // a browser that cannot resample a microphone (Firefox)
      context = new AudioContext();
      await context.audioWorklet.addModule(WORKLET);
      node = captureNode(context, stream, privacyRate);
    }
    await context.resume();
    app.mic = "waiting";
    return { context, stream, node, privacyRate };
  } catch (error) {
    stream?.getTracks().forEach((track) => track.stop());
    app.mic = error?.name === "NotAllowedError" ? "refused" : "missing";
    return { context, stream: null, node: null, privacyRate: null };  // kept to play answers
  }
}

/** The capture worklet fed by the microphone's stream (its audio arrives in onAudio). */
function captureNode(context, stream, privacyRate) {
  const node = new AudioWorkletNode(context, "prism-capture", {
    numberOfInputs: 1, numberOfOutputs: 0, processorOptions: { privacyRate },
  });
  node.port.onmessage = (event) => onAudio(event.data);
  context.createMediaStreamSource(stream).connect(node);
  return node;
}

function startSensors() {
  app.grid = new ImuGrid();
  app.motionClock = new MotionClock();
  app.audioClock = null;
  app.audioHeld = null;
  if (app.motion === "waiting") {
    window.addEventListener("devicemotion", onMotion);
    setTimeout(() => { if (app.motion === "waiting") { app.motion = "missing"; renderSensors(); } }, MOTION_WAIT_MS);
  }
  renderSensors();
}

function stopSession() {
  clearInterval(app.timer);
  clearTimeout(app.reconnectTimer);
  app.timer = app.reconnectTimer = null;
  window.removeEventListener("devicemotion", onMotion);
  if (app.audio) {
    app.audio.stream?.getTracks().forEach((track) => track.stop());
    app.audio.context.close().catch(() => {});
    app.audio = null;
  }
  if (app.ws) { app.ws.onclose = null; app.ws.close(1000); app.ws = null; }
  app.welcomed = false;
  app.question = null;
  app.recent = [];
  app.outbox = new Outbox();
  app.sentAt.clear();
  app.wakeLock?.release().catch(() => {});
  app.wakeLock = null;
  app.motion = app.mic = "off";
}

async function keepAwake() {
  try { app.wakeLock = await navigator.wakeLock?.request("screen"); } catch { app.wakeLock = null; }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && app.timer && !app.wakeLock) keepAwake();
});

// ---- sensors -------------------------------------------------------------------------

function onMotion(event) {
  const a = event.accelerationIncludingGravity;
  if (!a || a.x === null || a.y === null || a.z === null) return;
  const r = event.rotationRate;
  const gyro = r && r.alpha !== null ? [r.beta * DEG, r.gamma * DEG, r.alpha * DEG] : [0, 0, 0];
  const seen = (performance.timeOrigin + event.timeStamp - app.session.originMs) / 1000;
  const t = app.motionClock.time(seen, event.interval > 0 ? event.interval / 1000 : null);
  if (t < 0) return;
  app.grid.add(t, [a.x, a.y, a.z, ...gyro]);
  stats.motionEvents += 1;
  if (app.motion !== "on") { app.motion = r && r.alpha !== null ? "on" : "no-gyro"; renderSensors(); }
}

function onAudio(message) {
  let { pcm, low } = message;
  if (!app.session) return;
  const now = sessionTime();
  let clock = app.audioClock;
  const behind = clock ? now - (clock.anchor + (clock.produced + pcm.length) / 16000) : 0;
  if (!clock || behind > 1.0) {  // the first audio, or the audio stopped (a suspended page)
    flushAudio();
    let anchor = now - pcm.length / 16000;
    if (anchor < 0) {  // sound from before the session started: not sent
      const skip = 16 * Math.ceil((-anchor * 16000) / 16);  // whole samples of the 1 kHz stream too
      if (skip >= pcm.length) return;
      pcm = pcm.subarray(skip);
      low = low ? low.subarray(skip / 16) : low;
      anchor += skip / 16000;
    }
    clock = app.audioClock = { anchor, produced: 0, lowProduced: 0 };
    if (stats.audioStartMs === null) stats.audioStartMs = app.session.originMs + anchor * 1000;
  }
  if (app.mic !== "on") { app.mic = "on"; renderSensors(); }
  stats.audioChunks += 1;
  const privacyRate = app.audio?.privacyRate;
  const [samples, rate, t0] = privacyRate
    ? [low, privacyRate, clock.anchor + clock.lowProduced / privacyRate]
    : [pcm, 16000, clock.anchor + clock.produced / 16000];
  if (!app.audioHeld) app.audioHeld = { t0, rate, parts: [], n: 0 };
  app.audioHeld.parts.push(samples);
  app.audioHeld.n += samples.length;
  clock.produced += pcm.length;
  clock.lowProduced += low ? low.length : 0;
  const chunk = { t0: clock.anchor + (clock.produced - pcm.length) / 16000, pcm };
  app.recent.push(chunk);
  while (app.recent.length && app.recent[0].t0 < chunk.t0 - RECENT_S) app.recent.shift();
  if (app.question) {
    app.question.parts.push(chunk);
    if (chunk.t0 - app.question.from >= MAX_QUESTION_S) endQuestion();
    if (app.question.until !== null && chunk.t0 + pcm.length / 16000 >= app.question.until) sendQuestion();
  }
}

function joined(parts, n) {
  const out = new Float32Array(n);
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

function flushAudio() {
  const held = app.audioHeld;
  app.audioHeld = null;
  if (!held || held.n === 0) return;
  const pcm = toInt16(joined(held.parts, held.n));
  sendFrame(KIND.AUDIO, held.t0, held.rate, pcm);
}

function flushImu() {
  for (const run of app.grid.take()) {
    for (let i = 0; i < run.values.length; i += MAX_IMU_SAMPLES * 6) {
      const values = run.values.subarray(i, i + MAX_IMU_SAMPLES * 6);
      sendFrame(KIND.IMU, run.t0 + i / 6 / app.grid.rate, app.grid.rate, values);
    }
  }
}

// ---- the connection ------------------------------------------------------------------

function canSend() {
  return app.ws?.readyState === WebSocket.OPEN && app.welcomed && app.ws.bufferedAmount < MAX_BUFFERED_BYTES;
}

function transmit(items) {
  for (const data of items) app.ws.send(data);
}

/** Queue a binary frame. A sensor frame remembers when its newest sample was taken, so
 * that a step update naming it (`in_seq`) is timed from there to the screen. */
function sendFrame(kind, t0, rate, samples) {
  const sensor = kind !== KIND.QUESTION;
  stats.framesMade += 1;
  const n = kind === KIND.IMU ? samples.length / 6 : samples.length;
  const ageMs = Math.max(0, (sessionTime() - (t0 + n / rate)) * 1000);
  const newestAt = performance.now() - ageMs;
  transmit(app.outbox.push({
    sensor,
    encode: (seq) => {
      if (sensor) app.sentAt.set(seq, newestAt);
      stats.framesSent += 1;
      return encodeFrame(kind, seq, t0, rate, samples);
    },
  }, canSend()));
  stats.dropped = app.outbox.dropped;
}

function sendControl(message) {
  transmit(app.outbox.push({ sensor: false, encode: (seq) => JSON.stringify({ ...message, seq }) }, canSend()));
}

function tick() {
  if (!app.session) return;
  if (app.question?.until != null && sessionTime() > app.question.until + 2) sendQuestion();
  flushImu();
  flushAudio();
  if (app.welcomed && app.session.lastReceived > app.lastAcked && performance.now() - app.lastAckAt >= ACK_EVERY_MS) {
    app.lastAcked = app.session.lastReceived;
    app.lastAckAt = performance.now();
    sendControl({ type: "ack", up_to: app.lastAcked });
  }
  if (canSend()) transmit(app.outbox.release());
  renderDetails();
}

function connect() {
  const url = new URL(`v1/sessions/${encodeURIComponent(app.session.id)}/stream`, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", app.device.token);
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  app.ws = ws;
  app.welcomed = false;
  status(stats.reconnects ? "reconnecting…" : "connecting…", "waiting");
  ws.onopen = () => {
    ws.send(JSON.stringify({
      type: "hello", protocol: 1, resume_from: app.session.lastReceived, speech: $("speak").checked,
    }));
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") receive(JSON.parse(event.data));
    else playAnswer(event.data);
  };
  ws.onclose = (event) => {
    app.welcomed = false;
    if (app.ws !== ws) return;
    const fatal = FATAL_CLOSES[event.code];
    if (event.code === 4401) { unpair(fatal); return; }
    if (fatal) { endLocally(fatal); return; }
    const delay = Math.min(15000, 1000 * 2 ** app.retry);
    app.retry += 1;
    stats.reconnects += 1;
    status("reconnecting…", "down");
    app.reconnectTimer = setTimeout(connect, delay);
  };
}

function receive(message) {
  if (Number.isInteger(message.seq) && message.seq > app.session.lastReceived) {
    app.session.lastReceived = message.seq;
    saved.set("session", app.session);
  }
  switch (message.type) {
    case "welcome":
      app.welcomed = true;
      app.retry = 0;
      status("live", "up");
      say("recording", message.recording ? "This session is recorded for research: its raw audio and motion are kept." : "");
      showMode(message.mode);
      showMarks(message.recording);
      transmit(app.outbox.welcome(message.next_seq));
      break;
    case "step":
      if (Number.isInteger(message.in_seq)) {
        app.outbox.processed(message.in_seq);
        const sent = app.sentAt.get(message.in_seq);
        for (const seq of app.sentAt.keys()) if (seq <= message.in_seq) app.sentAt.delete(seq);
        renderStep(message);
        if (sent !== undefined) stats.latenciesMs.push(performance.now() - sent);
      } else {
        renderStep(message);
      }
      stats.steps.push({ t: message.t, current: message.current, final: Boolean(message.final) });
      if (message.final) finished();
      break;
    case "reminder": renderReminder(message); break;
    case "answer": renderAnswer(message); break;
    case "confirm": renderConfirm(message); break;
    case "mode": showMode(message.mode); break;
    case "marked": renderMarked(message); break;
    case "error":
      transmit(app.outbox.error(message));
      if (message.code === 4503) status("service busy: your data is kept", "waiting");
      else if (message.code !== 4008) problem(`The service refused a message: ${message.message}`);
      break;
    default: break;
  }
}

function playAnswer(buffer) {
  let frame;
  try { frame = decodeFrame(buffer); } catch { return; }
  if (frame.kind !== KIND.ANSWER || !app.audio) return;
  stats.spokenAnswers += 1;
  const context = app.audio.context;
  const clip = context.createBuffer(1, frame.samples.length, frame.rate);
  const channel = clip.getChannelData(0);
  for (let i = 0; i < frame.samples.length; i++) channel[i] = frame.samples[i] / 32768;
  app.answerSource?.stop();
  const source = context.createBufferSource();
  source.buffer = clip;
  source.connect(context.destination);
  source.start();
  app.answerSource = source;
}

// ---- the user's actions --------------------------------------------------------------

/** The talk button pressed: the question is the microphone's sound from now until it is
 * let go (and QUESTION_TAIL_S more), cut by the audio's own clock, so a late audio
 * thread does not clip it. */
function startQuestion(event) {
  event.preventDefault();
  if (!app.session || app.mic !== "on" || app.question) return;
  const from = sessionTime();
  app.question = { from, until: null, parts: app.recent.filter((c) => c.t0 + c.pcm.length / 16000 > from) };
  $("talk").classList.add("held");
  say("talk", "Listening… release to ask");
}

function endQuestion() {
  const question = app.question;
  if (!question || question.until !== null) return;
  question.until = Math.min(sessionTime(), question.from + MAX_QUESTION_S) + QUESTION_TAIL_S;
  $("talk").classList.remove("held");
  say("talk", "Hold to ask");
}

/** Send the held question once the audio has reached its end (or gave up coming). */
function sendQuestion() {
  const question = app.question;
  app.question = null;
  if (question.until - QUESTION_TAIL_S - question.from < MIN_QUESTION_S) {
    say("asked", "Hold the button while you speak.");
    return;
  }
  const samples = [];
  for (const { t0, pcm } of question.parts) {
    const first = Math.max(0, Math.round((question.from - t0) * 16000));
    const last = Math.min(pcm.length, Math.round((question.until - t0) * 16000));
    if (last > first) samples.push(pcm.subarray(first, last));
  }
  const n = samples.reduce((total, part) => total + part.length, 0);
  if (n < MIN_QUESTION_S * 16000) { say("asked", "No sound came from the microphone."); return; }
  sendFrame(KIND.QUESTION, question.from, 16000, toInt16(joined(samples, n)));
  say("asked", "Asked: waiting for the answer…");
}

/** Guided mode (the task has no recognizer yet): the user moves on by tapping or saying
 * "next"; the answer names the step to do now. */
function showMode(mode) {
  const guided = mode === "guided";
  $("next-step").hidden = !guided;
  say("mode", guided ? "Guided mode: this task has no recognizer yet. Tap “Step done” or say “next” when you finish a step." : "");
}

/** A recording session: the procedure's steps as big buttons, to mark where each starts. */
function showMarks(recording) {
  show("marks", Boolean(recording));
  const box = $("mark-buttons");
  if (!recording || box.childElementCount || !app.procedure) return;
  for (const [id, name] of app.procedure.names) {
    const button = document.createElement("button");
    button.className = "big mark";
    button.dataset.step = id;
    button.textContent = name;
    button.addEventListener("click", () => mark(id));
    box.append(button);
  }
}

function mark(step) {
  if (!app.session) return;
  const t = sessionTime();
  sendControl({ type: "mark", step, t });
  say("marked", `Marking ${stepName(step) ?? "between steps"} at ${t.toFixed(1)} s…`);
}

function renderMarked(message) {
  stats.marks.push({ t: message.t, step: message.step });
  say("marked", `Marked: ${stepName(message.step) ?? "between steps"} from ${message.t.toFixed(1)} s`);
  for (const button of document.querySelectorAll("#marks button")) {
    button.classList.toggle("primary", button.dataset.step === (message.step ?? ""));
  }
}

function nextStep() {
  if (!app.session) return;
  sendControl({ type: "question", text: "next", t: sessionTime() });
  say("asked", "Step done: what comes now…");
}

function askTyped(event) {
  event.preventDefault();
  const text = $("typed").value.trim();
  if (!text || !app.session) return;
  sendControl({ type: "question", text, t: sessionTime() });
  $("typed").value = "";
  say("asked", `Asked: “${text}”`);
}

function finish() {
  if (!app.session || app.finishing) return;
  app.finishing = true;
  flushImu();
  flushAudio();
  sendControl({ type: "end", t: sessionTime() });
  status("finishing…", "waiting");
}

async function finished() {
  const session = app.session;
  stopSession();
  app.session = null;
  app.finishing = false;
  saved.remove("session");
  show("live", false);
  show("finished", true);
  const left = [...$("reminders").querySelectorAll(".reminder p")].map((p) => p.textContent);
  $("final-reminders").replaceChildren(...left.map((reminder) => {  // "Before you finish: ..."
    const card = document.createElement("p");
    card.className = "reminder";
    card.textContent = reminder;
    return card;
  }));
  $("reminders").replaceChildren();
  const list = $("done-steps");
  list.replaceChildren();
  try {
    const reply = await api("GET", `v1/sessions/${encodeURIComponent(session.id)}`);
    for (const h of reply.data?.history ?? []) {
      const item = document.createElement("li");
      item.textContent = `${stepName(h.step)} (${Math.round(h.end - h.start)} s)`;
      list.append(item);
    }
  } catch { /* the summary is optional */ }
}

function endLocally(message) {
  stopSession();
  app.session = null;
  saved.remove("session");
  showHome().then(() => problem(message));
}

// ---- rendering -----------------------------------------------------------------------

function renderStep(message) {
  const name = stepName(message.current);
  say("step", name ?? "Waiting for the first step…");
  const p = Math.round(100 * (message.probability ?? 0));
  say("probability", name ? `${p} % ${p >= 80 ? "sure" : p >= 50 ? "likely" : "unsure"}` : "");
  $("probability-bar").style.width = `${name ? p : 0}%`;
  const next = $("next");
  next.replaceChildren();
  for (const [step, q] of message.next ?? []) {
    const item = document.createElement("li");
    item.textContent = `${stepName(step)} (${Math.round(100 * q)} %)`;
    next.append(item);
  }
  const left = message.remaining_s;
  say("remaining", Number.isFinite(left) ? `About ${Math.max(1, Math.round(left / 60))} min left` : "");
}

function renderReminder(message) {
  navigator.vibrate?.([200, 100, 200]);
  const card = document.createElement("div");
  card.className = "reminder";
  const text = document.createElement("p");
  text.textContent = message.reason || `Remember: ${stepName(message.step)}`;
  card.append(text);
  const actions = [["acknowledge", "OK"], ["snooze", "Later"], ["dismiss", "Not needed"]];
  for (const [action, label] of actions) {
    const button = document.createElement("button");
    button.textContent = label;
    button.addEventListener("click", () => {
      const body = { type: "reminder_action", reminder_id: message.reminder_id, action };
      if (action === "snooze") body.snooze_s = 60;
      sendControl(body);
      card.remove();
    });
    card.append(button);
  }
  $("reminders").prepend(card);
}

function renderAnswer(message) {
  say("asked", "");
  say("question", message.question ? `“${message.question}”` : "");
  say("answer", message.text ?? "That is not something I can help with here.");
  show("answer-box", true);
}

function renderConfirm(message) {
  const box = $("confirm");
  box.replaceChildren();
  const title = document.createElement("p");
  title.textContent = "Which step are you on?";
  box.append(title);
  for (const step of message.choices ?? []) {
    const button = document.createElement("button");
    button.textContent = stepName(step);
    button.addEventListener("click", () => {
      sendControl({ type: "correction", kind: "at", step, t: sessionTime() });
      box.hidden = true;
    });
    box.append(button);
  }
  const none = document.createElement("button");
  none.textContent = "None of these";
  none.className = "quiet";
  none.addEventListener("click", () => { box.hidden = true; });
  box.append(none);
  box.hidden = false;
}

const SENSOR_TEXT = {
  motion: {
    on: "Motion: on", "no-gyro": "Motion: accelerometer only (no gyroscope)", waiting: "Motion: waiting…",
    missing: "No motion sensor: audio only", refused: "Motion access refused: audio only", off: "",
  },
  mic: {
    on: "Microphone: on", waiting: "Microphone: waiting…", missing: "No microphone: motion only",
    refused: "Microphone refused: motion only",
    insecure: "The microphone and motion need HTTPS (or localhost)", off: "",
  },
};

function renderSensors() {
  const privacy = app.audio?.privacyRate ? " (privacy mode: 1 kHz)" : "";
  say("sensors", `${SENSOR_TEXT.motion[app.motion]} · ${SENSOR_TEXT.mic[app.mic]}${app.mic === "on" ? privacy : ""}`);
  $("talk").disabled = app.mic !== "on";
}

function renderDetails() {
  stats.unconfirmed = app.outbox.sent.length + app.outbox.held.length;
  const latencies = [...stats.latenciesMs].sort((a, b) => a - b);
  const p50 = latencies.length ? `${Math.round(latencies[Math.floor(latencies.length / 2)])} ms` : "–";
  const dropped = stats.dropped ? `, ${stats.dropped} dropped while offline` : "";
  say("details", `${stats.framesSent} frames sent${dropped}, update delay ${p50}`);
}

// ---- start-up ------------------------------------------------------------------------

function wire() {
  $("pair-form").addEventListener("submit", (event) => { event.preventDefault(); claim($("code").value); });
  $("start").addEventListener("click", () => start(false));
  $("resume").addEventListener("click", () => start(true));
  $("talk").addEventListener("pointerdown", startQuestion);
  for (const type of ["pointerup", "pointercancel", "pointerleave"]) $("talk").addEventListener(type, endQuestion);
  $("talk").addEventListener("contextmenu", (event) => event.preventDefault());
  $("ask-form").addEventListener("submit", askTyped);
  $("finish").addEventListener("click", finish);
  $("next-step").addEventListener("click", nextStep);
  $("mark-none").addEventListener("click", () => mark(null));
  $("again").addEventListener("click", () => { showHome(); });
  $("forget").addEventListener("click", () => unpair(""));
  $("privacy").addEventListener("change", () => saved.set("privacy", $("privacy").checked));
}

async function main() {
  wire();
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("watch/sw.js", { scope: "watch" }).catch(() => {});
  }
  const code = new URLSearchParams(location.search).get("pair");
  if (code) await claim(code);
  else await showHome();
}

main();
