// GET and POST /v1/clock: the engine's clock, and moving a virtual one (engine/virtual-clock.ts;
// `serve --clock virtual`, development only). An advance ticks the engine at every instant
// engine/clock-schedule.ts names, one journaled tick command at a time, so that stale-data and
// daily-deadline alerts are raised at exactly the time they would be on the system clock.
import type { Static } from "@sinclair/typebox";
import { DEFAULT_TIME_ZONE } from "../../engine/clock.js";
import { pipelineDueOffsets, tickInstants, VIRTUAL_STEP_MS, VIRTUAL_STEP_RANGE_MS } from "../../engine/clock-schedule.js";
import { VarselError } from "../../engine/errors.js";
import { parseIsoTime } from "../../engine/ingest/normalize.js";
import { parseDuration } from "../../engine/rules/duration.js";
import { MAX_ADVANCE_MS } from "../../engine/virtual-clock.js";
import type { AppContext } from "../context.js";
import type { ClockBody } from "./schemas.js";

/** What GET /v1/clock answers. */
export function clockState(ctx: AppContext): { clock: "system" | "virtual"; now: number } {
  return { clock: ctx.clock === undefined ? "system" : "virtual", now: ctx.now() };
}

/** Moves the virtual clock as `body` asks; resolves once every tick on the way is durable. */
export async function advanceClock(ctx: AppContext, body: Static<typeof ClockBody>) {
  const clock = ctx.clock;
  if (clock === undefined) throw new VarselError("clock_not_virtual");
  const target = targetOf(body);
  const step = stepOf(body.step);
  const before = ctx.pipeline.lifecycle.lastSeq();
  const done = await clock.advance(
    target,
    (from, to) => tickInstants(from, to, pipelineDueOffsets(ctx.pipeline), DEFAULT_TIME_ZONE, step),
    async () => void (await ctx.durable.execute({ kind: "tick" })),
    // A finer step ticks more often: the same bound on ticks per call, over a shorter advance.
    Math.min(MAX_ADVANCE_MS, (MAX_ADVANCE_MS / VIRTUAL_STEP_MS) * step),
  );
  // Also the events of whatever else was applied meanwhile (readings sent during the advance).
  const events = ctx.pipeline.lifecycle.lastSeq() - before;
  ctx.logger.info({ from: new Date(done.from).toISOString(), now: new Date(done.now).toISOString(), ticks: done.ticks, events }, "virtual clock advanced");
  return { clock: "virtual" as const, ...done, events, seq: ctx.releasedSeq() };
}

/** The regular step: "1s" to "1h", default one minute. */
function stepOf(text: string | undefined): number {
  if (text === undefined) return VIRTUAL_STEP_MS;
  const step = parseDuration(text);
  if (step === null || step < VIRTUAL_STEP_RANGE_MS.min || step > VIRTUAL_STEP_RANGE_MS.max) {
    throw new VarselError("invalid_clock_advance", 'step must be a duration from "1s" to "1h"', { step: text });
  }
  return step;
}

/** The target as a function of the clock's now when the advance runs (advanceBy is relative to it). */
function targetOf(body: Static<typeof ClockBody>): (now: number) => number {
  if ((body.advanceTo === undefined) === (body.advanceBy === undefined)) throw new VarselError("invalid_clock_advance", "give exactly one of advanceTo and advanceBy");
  if (body.advanceBy !== undefined) {
    const by = parseDuration(body.advanceBy);
    if (by === null) throw new VarselError("invalid_clock_advance", 'advanceBy must be a duration like "90s", "15m", "3h" or "2d", at most 366d', { advanceBy: body.advanceBy });
    return (now) => now + by;
  }
  const at = body.advanceTo!;
  const to = typeof at === "number" ? at : /^\d+$/.test(at) ? Number(at) : parseIsoTime(at);
  if (to === undefined) throw new VarselError("invalid_clock_advance", "advanceTo must be an ISO 8601 time with an offset, or epoch ms", { advanceTo: at });
  return () => to;
}
