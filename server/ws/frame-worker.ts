// The ingest thread's entry (started by server/ws/frame-thread.ts): one frame in, one prepared
// frame out, in arrival order (one FIFO: a socket's frames stay in order).
import { parentPort } from "node:worker_threads";
import type { Format } from "../codec.js";
import { Names, prepareFrame, transferables } from "./frame-prep.js";

/** A frame to prepare: `seq` pairs the answer with its request. */
export interface FrameRequest {
  seq: number;
  bytes: Uint8Array;
  format: Format;
  now: number;
  maxBatchItems: number;
  /** Encode an ingest's journal bytes (false: the server keeps no journal). */
  journal: boolean;
}

const port = parentPort!;
const names = new Names(); // this thread's numbering; the main thread follows it message by message
port.on("message", (r: FrameRequest) => {
  const frame = prepareFrame(r.bytes, r.format, r.now, r.maxBatchItems, names, r.journal);
  port.postMessage({ seq: r.seq, frame }, transferables(frame));
});
port.postMessage({ ready: true }); // loaded: frames may come here from now on
