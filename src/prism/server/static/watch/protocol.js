// PrISM watch protocol v1 for the browser (watch_bridge/PROTOCOL.md): binary frames and
// the numbering of a watch's messages. Pure code, no I/O: the page and its tests use it.

export const KIND = Object.freeze({ IMU: 1, AUDIO: 2, QUESTION: 3, ANSWER: 4 });
export const HEADER_BYTES = 24;
export const IMU_CHANNELS = 6;

/** Error codes that, with a `ref_seq`, refuse that message: its seq is not used. */
export const REFUSALS = new Set([4000, 4002, 4005, 4006]);

/**
 * One binary frame: the 24-byte little-endian header, then the payload.
 * @param {number} kind KIND.IMU (samples: Float32Array of n x 6, m/s^2 then rad/s),
 *   KIND.AUDIO or KIND.QUESTION (samples: Int16Array, mono PCM)
 * @param {number} seq u32 sequence number
 * @param {number} t0 time of the first sample, seconds since the session started
 * @param {number} rate sample rate (Hz)
 * @param {Float32Array|Int16Array} samples
 * @returns {ArrayBuffer}
 */
export function encodeFrame(kind, seq, t0, rate, samples) {
  const n = kind === KIND.IMU ? samples.length / IMU_CHANNELS : samples.length;
  if (!Number.isInteger(n)) throw new Error(`IMU samples must be n x ${IMU_CHANNELS} values`);
  const width = kind === KIND.IMU ? 4 : 2;
  const buffer = new ArrayBuffer(HEADER_BYTES + samples.length * width);
  const view = new DataView(buffer);
  view.setUint8(0, 0x50);  // "P"
  view.setUint8(1, 0x57);  // "W"
  view.setUint8(2, 1);
  view.setUint8(3, kind);
  view.setUint32(4, seq, true);
  view.setFloat64(8, t0, true);
  view.setUint32(16, n, true);
  view.setFloat32(20, rate, true);
  for (let i = 0; i < samples.length; i++) {
    if (width === 4) view.setFloat32(HEADER_BYTES + 4 * i, samples[i], true);
    else view.setInt16(HEADER_BYTES + 2 * i, samples[i], true);
  }
  return buffer;
}

/**
 * Read a binary frame from the server (a spoken answer, kind 4).
 * @param {ArrayBuffer} buffer
 * @returns {{kind: number, seq: number, t0: number, rate: number, samples: Int16Array}}
 */
export function decodeFrame(buffer) {
  if (buffer.byteLength < HEADER_BYTES) throw new Error(`frame of ${buffer.byteLength} bytes`);
  const view = new DataView(buffer);
  if (view.getUint8(0) !== 0x50 || view.getUint8(1) !== 0x57 || view.getUint8(2) !== 1) {
    throw new Error("not a PrISM v1 frame");
  }
  const kind = view.getUint8(3);
  const n = view.getUint32(16, true);
  if (kind === KIND.IMU || buffer.byteLength !== HEADER_BYTES + 2 * n) {
    throw new Error(`frame of kind ${kind} with ${n} samples in ${buffer.byteLength} bytes`);
  }
  const samples = new Int16Array(n);
  for (let i = 0; i < n; i++) samples[i] = view.getInt16(HEADER_BYTES + 2 * i, true);
  return {
    kind, seq: view.getUint32(4, true), t0: view.getFloat64(8, true),
    rate: view.getFloat32(20, true), samples,
  };
}

/** Float samples in [-1, 1] as int16 PCM (clipped). */
export function toInt16(floats) {
  const out = new Int16Array(floats.length);
  for (let i = 0; i < floats.length; i++) {
    const v = Math.max(-1, Math.min(1, floats[i]));
    out[i] = Math.round(v * 32767);
  }
  return out;
}

/**
 * What a watch has sent and not yet seen processed, numbered as the protocol says.
 *
 * A message is numbered when it goes out (`send`), so messages held while the
 * connection is down take their numbers at the next `welcome`. Sent messages stay
 * until the server shows it has them (`welcome.next_seq`, a step update's `in_seq`);
 * after a reconnect the rest are numbered again from `next_seq` and resent. A refused
 * message (an error of REFUSALS with its `ref_seq`) is dropped and the messages sent
 * after it (gaps, for the server) are numbered again from its number and resent.
 * While disconnected at most `maxHeld` messages are held: beyond that the oldest
 * sensor frames are dropped (`dropped` counts them; a gap in time is allowed, a gap in
 * numbers is not, and held messages have no number yet).
 */
export class Outbox {
  constructor({ maxHeld = 3000 } = {}) {
    this.maxHeld = maxHeld;
    this.nextSeq = 1;
    this.sent = [];  // {seq, message}, in seq order
    this.held = [];  // messages not sent yet
    this.dropped = 0;
  }

  /**
   * Queue a message; returns what to send now (none while `connected` is false).
   * message: {sensor: bool, encode(seq) -> string | ArrayBuffer}
   */
  push(message, connected) {
    this.held.push(message);
    while (this.held.length > this.maxHeld) {
      const index = this.held.findIndex((m) => m.sensor);
      this.held.splice(index >= 0 ? index : 0, 1);
      this.dropped += 1;
    }
    return connected ? this.release() : [];
  }

  /** Number the held messages and move them to `sent`: the wire data to send. */
  release() {
    const out = [];
    for (const message of this.held) {
      const seq = this.nextSeq++;
      this.sent.push({ seq, message });
      out.push(message.encode(seq));
    }
    this.held = [];
    return out;
  }

  /** The server has every message numbered below `nextSeq` (a welcome): renumber the
   * others from there and return them to resend, with the held ones. */
  welcome(nextSeq) {
    const unseen = this.sent.filter((s) => s.seq >= nextSeq).map((s) => s.message);
    this.sent = [];
    this.nextSeq = nextSeq;
    this.held = unseen.concat(this.held);
    return this.release();
  }

  /** The server processed every message up to `seq` (a step update's `in_seq`). */
  processed(seq) {
    while (this.sent.length && this.sent[0].seq <= seq) this.sent.shift();
  }

  /** An error message: if it refuses one of ours, drop that message and return the
   * later ones, numbered again, to resend; else nothing. */
  error(error) {
    const ref = error.ref_seq;
    if (!REFUSALS.has(error.code) || !Number.isInteger(ref)) return [];
    const index = this.sent.findIndex((s) => s.seq === ref);
    if (index < 0) return [];
    const later = this.sent.slice(index + 1).map((s) => s.message);
    this.sent = this.sent.slice(0, index);
    this.nextSeq = ref;
    this.held = later.concat(this.held);
    return this.release();
  }
}
