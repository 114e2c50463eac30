// Typed-array views of the kernel's memory. memory.grow detaches the old ArrayBuffer, so every
// access goes through fresh(), which re-creates the views when the buffer changed.
import * as L from "../../assembly/layout.js";
import type { Transition } from "../evaluator.js";

// Local copies: reading imported bindings in the decode loop costs ~10x (measured under tsx).
const { TR_BYTES, TR_RULE, TR_KIND, TR_FROM, TR_TO, TR_DIR, TR_TIME, TR_X, TR_READING, TR_DETAIL } = L;

export class Views {
  private buffer: ArrayBuffer | null = null;
  u8!: Uint8Array;
  u32!: Uint32Array;
  i32!: Int32Array;
  f32!: Float32Array;
  f64!: Float64Array;

  constructor(
    private readonly memory: WebAssembly.Memory,
    /** Address of the header (heapBase, 64-byte aligned). */
    readonly base: number,
  ) {}

  /** The views, re-created if memory grew since they were made. */
  fresh(): this {
    // memory.grow detaches the old buffer (length 0): checking that avoids the costly
    // memory.buffer getter on every access.
    if (this.buffer === null || this.u8.length === 0) {
      const buf = this.memory.buffer;
      this.buffer = buf;
      this.u8 = new Uint8Array(buf);
      this.u32 = new Uint32Array(buf);
      this.i32 = new Int32Array(buf);
      this.f32 = new Float32Array(buf);
      this.f64 = new Float64Array(buf);
    }
    return this;
  }

  /** A u32 header field (H_* offset). */
  header(field: number): number {
    return this.fresh().u32[(this.base + field) >>> 2];
  }

  /** Decodes `count` transition records starting at address `at`; readings shifted by `readingBase`. */
  transitions(at: number, count: number, readingBase = 0): Transition[] {
    const { u8, u32, i32, f64 } = this.fresh();
    const out: Transition[] = new Array(count);
    for (let k = 0; k < count; k++) {
      const p = at + k * TR_BYTES;
      const reading = i32[(p + TR_READING) >>> 2];
      out[k] = {
        rule: u32[(p + TR_RULE) >>> 2],
        kind: u8[p + TR_KIND],
        from: u8[p + TR_FROM],
        to: u8[p + TR_TO],
        dir: u8[p + TR_DIR],
        time: f64[(p + TR_TIME) >>> 3],
        x: f64[(p + TR_X) >>> 3],
        reading: reading < 0 ? reading : reading + readingBase,
        detail: u32[(p + TR_DETAIL) >>> 2],
      };
    }
    return out;
  }
}
