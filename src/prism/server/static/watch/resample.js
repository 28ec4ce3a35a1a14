// Resampling for the web client: audio from the browser's rate to the protocol's, and
// motion events onto the protocol's 50 Hz IMU grid. Pure code: the audio worklet, the
// page and the tests import it. Hand-written because the page ships without a build
// step or third-party code.

/**
 * Streaming band-limited resampler (windowed sinc, Blackman window) for mono audio.
 *
 * Output sample k is at input position k * ratio (ratio = inRate / outRate, any real
 * value >= 1); the low-pass cut-off is `cutoff` times the output's Nyquist frequency,
 * and the kernel spans `halfWidth` output periods on each side (transition band about
 * 2.75 / halfWidth of the output's Nyquist frequency). The kernel is tabulated at
 * 1/`phases` of an input sample and interpolated linearly. Delay: halfWidth output
 * samples (the output runs behind the input by that much; `push` returns what is
 * complete). Cost: 2 * halfWidth * ratio multiply-adds per output sample.
 */
export class Resampler {
  constructor(inRate, outRate, { cutoff = 0.9, halfWidth = 16, phases = 64 } = {}) {
    if (!(inRate >= outRate && outRate > 0)) {
      throw new Error(`cannot resample ${inRate} Hz to ${outRate} Hz (only down)`);
    }
    this.inRate = inRate;
    this.outRate = outRate;
    this.ratio = inRate / outRate;
    this.reach = Math.ceil(halfWidth * this.ratio);  // input samples on each side
    this.phases = phases;
    const fc = cutoff / this.ratio / 2;  // cycles per input sample
    const size = 2 * this.reach * phases + 1;
    this.table = new Float32Array(size + 1);
    for (let j = 0; j < size; j++) {
      const x = j / phases - this.reach;  // input samples from the centre
      const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
      const w = 0.42 + 0.5 * Math.cos(Math.PI * x / this.reach)
        + 0.08 * Math.cos(2 * Math.PI * x / this.reach);
      this.table[j] = sinc * w;
    }
    this.offset = -this.reach;  // input index of buffer[0] (zeros before the start)
    this.buffer = new Float32Array(this.reach);  // input still needed, from `offset`
    this.next = 0;  // output index of the next output sample
  }

  /** Append input samples (Float32Array); returns the output samples now complete. */
  push(input) {
    const joined = new Float32Array(this.buffer.length + input.length);
    joined.set(this.buffer);
    joined.set(input, this.buffer.length);
    const end = this.offset + joined.length;  // input index after the last sample
    const out = [];
    for (;;) {
      const centre = this.next * this.ratio;
      const last = Math.floor(centre) + this.reach;
      if (last >= end) break;
      const first = Math.ceil(centre) - this.reach;
      let sum = 0;
      for (let i = first; i <= last; i++) {
        const position = (i - centre + this.reach) * this.phases;
        const j = Math.floor(position);
        const frac = position - j;
        const h = this.table[j] + frac * (this.table[j + 1] - this.table[j]);
        sum += h * joined[i - this.offset];
      }
      out.push(sum);
      this.next += 1;
    }
    const keepFrom = Math.max(0, Math.ceil(this.next * this.ratio) - this.reach - this.offset);
    this.buffer = joined.slice(keepFrom);
    this.offset += keepFrom;
    return Float32Array.from(out);
  }
}

/**
 * Motion events onto the IMU grid of the protocol: sample k at `k / rate` seconds of
 * session time, each channel interpolated linearly between the two events around it.
 * Grid points in a gap of more than `maxGap` seconds between events are skipped (the
 * next frame starts after the gap); `take` returns the runs of consecutive grid
 * samples complete so far.
 */
export class ImuGrid {
  constructor({ rate = 50, maxGap = 0.5 } = {}) {
    this.rate = rate;
    this.maxGap = maxGap;
    this.previous = null;  // [t, six values]
    this.k = null;  // next grid index to fill
    this.runs = [];  // [{k0, values: number[]}], consecutive grid samples
  }

  /** One event: t in seconds (increasing), values [ax, ay, az (m/s^2), gx, gy, gz (rad/s)]. */
  add(t, values) {
    const previous = this.previous;
    if (previous !== null && t <= previous[0]) return;  // not after the last: dropped
    this.previous = [t, values];
    if (previous === null || t - previous[0] > this.maxGap) {
      this.k = Math.ceil(t * this.rate - 1e-9);  // the first grid point from t on
      if (this.k / this.rate <= t) {
        this.emit(this.k, values);
        this.k += 1;
      }
      return;
    }
    const [t0, v0] = previous;
    while (this.k / this.rate <= t) {
      const g = this.k / this.rate;
      const w = (g - t0) / (t - t0);
      this.emit(this.k, v0.map((v, c) => v + w * (values[c] - v)));
      this.k += 1;
    }
  }

  emit(k, values) {
    const run = this.runs[this.runs.length - 1];
    if (run && run.k0 + run.values.length / 6 === k) run.values.push(...values);
    else this.runs.push({ k0: k, values: [...values] });
  }

  /** The grid samples filled since the last call: [{t0 (s), values (Float32Array n x 6)}]. */
  take() {
    const out = this.runs.map((run) => ({ t0: run.k0 / this.rate, values: Float32Array.from(run.values) }));
    this.runs = [];
    return out;
  }
}

/**
 * Sample times of a motion sensor from the times its events were handled.
 *
 * A page gets `devicemotion` events late, and in bursts when its thread is busy, but the
 * sensor sampled them at a steady `interval` (the event says which). So an event's time
 * is the previous one's plus the interval, unless that is later than the event was seen
 * (the estimate then moves back to it: an event is never seen before its sample) or more
 * than `maxSlip` seconds earlier (a pause or a changed rate: start again from it; a
 * page stalled for less than that keeps its events' times). A
 * small share (`follow`) of the remaining lateness is followed, so a sensor whose real
 * interval differs from the stated one is tracked. Without an interval, the handling
 * time is the sample time.
 */
export class MotionClock {
  constructor({ maxSlip = 1.0, follow = 0.002 } = {}) {
    this.maxSlip = maxSlip;
    this.follow = follow;
    this.last = null;  // {t (s), interval (s)} of the previous event
  }

  /** The sample time (s) of an event seen at `seen` (s) with the sensor's `interval` (s). */
  time(seen, interval) {
    const last = this.last;
    let t = seen;
    if (interval > 0 && last && last.interval === interval) {
      const predicted = last.t + interval;
      if (predicted <= seen && seen - predicted <= this.maxSlip) t = predicted + this.follow * (seen - predicted);
    }
    if (last && t <= last.t) t = last.t + 1e-6;  // two events seen at once: still in order
    this.last = { t, interval };
    return t;
  }
}
