// The microphone on the audio thread: resampled to 16 kHz (and, in privacy mode, to
// 1 kHz as well, so that speech never leaves the device), posted to the page about every
// 100 ms as Float32Arrays in [-1, 1].
import { Resampler } from "./resample.js";

const POST_EVERY = 1600;  // 16 kHz samples (0.1 s)

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const privacyRate = options.processorOptions?.privacyRate ?? null;
    // 16 kHz: flat to 7.5 kHz (the activity model's mel bands reach 8 kHz);
    // 1 kHz: -6 dB at 450 Hz, stop band from about 500 Hz, as the service's own decimation.
    this.speech = sampleRate === 16000 ? null : new Resampler(sampleRate, 16000, { cutoff: 1.0, halfWidth: 96 });
    this.privacy = privacyRate ? new Resampler(16000, privacyRate, { cutoff: 0.9, halfWidth: 16 }) : null;
    this.parts = [];
    this.count = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const block = channels[0];
      this.parts.push(this.speech ? this.speech.push(block) : Float32Array.from(block));
      this.count += this.parts[this.parts.length - 1].length;
      if (this.count >= POST_EVERY) {
        const pcm = new Float32Array(this.count);
        let at = 0;
        for (const part of this.parts) { pcm.set(part, at); at += part.length; }
        const low = this.privacy ? this.privacy.push(pcm) : null;
        this.port.postMessage({ pcm, low, frame: currentFrame });
        this.parts = [];
        this.count = 0;
      }
    }
    return true;
  }
}

registerProcessor("prism-capture", CaptureProcessor);
