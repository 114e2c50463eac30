// A backtest's worker thread (started by thread.ts, one per job, or by sharded.ts, one per shard):
// the replay runs here, off the server's event loop. It takes the job, then either an uploaded
// file to parse or chunks of stored readings as columns, answers every chunk with its progress
// (the main thread sends the next one only then: memory stays bounded), and ends with the
// report, or a shard with its outcome (merged into one report on the main thread).
import { parentPort } from "node:worker_threads";
import { VarselError } from "../errors.js";
import { Backtest, periodOf, type ReadingChunk } from "./backtest.js";
import { parseReadingsFile, type InputFormat } from "./input.js";
import { outcomeColumns, type OutcomeColumns } from "./outcome.js";
import type { ThreadReply, ThreadRequest } from "./thread.js";

const port = parentPort!;
/** Readings of an upload replayed between two progress messages. */
const UPLOAD_SLICE = 65_536;
/** Refused items of an upload listed in the job (all are counted). */
const LISTED_REJECTIONS = 20;

let bt: Backtest | undefined;

function send(reply: ThreadReply): void {
  port.postMessage(reply);
}

function progress(): void {
  send({ type: "progress", readings: bt!.replayedReadings, share: bt!.progress() });
}

port.on("message", (m: ThreadRequest) => {
  try {
    switch (m.type) {
      case "stored":
        bt = new Backtest(m.options as ConstructorParameters<typeof Backtest>[0]);
        break;
      case "shard":
        bt = new Backtest(m.options as ConstructorParameters<typeof Backtest>[0], undefined, m.blocks);
        break;
      case "outcome": {
        const outcome = outcomeColumns(bt!.finishOutcome());
        port.postMessage({ type: "outcome", outcome } satisfies ThreadReply, transferables(outcome));
        break;
      }
      case "chunk":
        bt!.push(m.chunk as ReadingChunk);
        progress();
        break;
      case "upload":
        upload(m.options, m.text, m.now, m.format);
        break;
      case "finish":
        send({ type: "report", report: bt!.finish() });
        break;
    }
  } catch (err) {
    const known = err instanceof VarselError;
    send({ type: "error", code: known ? err.code : err instanceof RangeError ? "invalid_body" : "internal_error", message: known || err instanceof RangeError ? err.message : String(err) });
  }
});

/** Parses the file (its period by default), then replays it in slices. */
function upload(options: Extract<ThreadRequest, { type: "upload" }>["options"], text: string, now: number, format: InputFormat | undefined): void {
  const batch = parseReadingsFile(text, now, format);
  send({ type: "parsed", total: batch.readings.length, rejected: batch.rejected.length, listed: batch.rejected.slice(0, LISTED_REJECTIONS).map((r) => ({ index: r.index, code: r.code, message: r.message })) });
  const period = periodOf(batch.readings);
  const from = options.from ?? period?.from;
  const to = options.to ?? period?.to;
  if (from === undefined || to === undefined) throw new VarselError("invalid_body", "the upload holds no valid reading: give from and to");
  bt = new Backtest({ ...options, from, to });
  for (let i = 0; i < batch.readings.length; i += UPLOAD_SLICE) {
    bt.pushReadings(batch.readings.slice(i, i + UPLOAD_SLICE));
    progress();
  }
  send({ type: "report", report: bt.finish() });
}

/** The outcome's column buffers, moved to the main thread instead of copied. */
function transferables(o: OutcomeColumns): ArrayBuffer[] {
  const arrays: ArrayBufferView[] = [o.perPatient, o.cgm.acc, o.cgm.seen];
  for (const r of o.ruleSets) {
    const e = r.episodes;
    arrays.push(e.patient, e.rule, e.start, e.end, e.peak, e.level, e.since, e.segPatient, e.segStart, e.segEnd, e.segLevel);
  }
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}
