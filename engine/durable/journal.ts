// What the journal holds of a command: exactly what is applied. `journaled` returns the command
// in canonical form (a plain copy, -0 as 0) with its MessagePack bytes, or refuses it with
// invalid_field before anything changed: a lone surrogate (MessagePack would write U+FFFD), a
// U+0000 (PostgreSQL text cannot hold it), a `__proto__` key, or anything else that would not
// decode to exactly the command. Ingest batches are canonical by construction
// (engine/ingest/canonical.ts); only their sender fields are checked here. An ingest's batch may
// come already encoded (`batchBytes`: the ingest thread encodes it, server/ws/frame-prep.ts):
// the command's bytes are then its other fields with those bytes spliced in as `batch`. Without a
// store there is no journal: an ingest is not encoded at all (`encode` false; its batch is
// canonical by construction, so encoding could not refuse it), every other command still is, as
// its encoding is its check.
import { isDeepStrictEqual } from "node:util";
import { VarselError } from "../errors.js";
import { textProblem } from "../ingest/text.js";
import { decodeBody, encodeBody } from "../store/codec.js";
import type { Command } from "./commands.js";

const LONE_SURROGATE_OR_NUL = /[\u0000\ud800-\udfff]/u;

/**
 * The command as it will be journaled and applied, and its bytes; throws invalid_field.
 * `batchBytes`: an ingest's batch as encodeBody encoded it (the caller vouches that they encode
 * exactly `command.batch`).
 */
export function journaled<C extends Command>(command: C, batchBytes?: Uint8Array, encode = true): { command: C; bytes: Uint8Array | undefined } {
  const canonical = (command.kind === "ingest" ? checkSender(command) : plain(command, "")) as C;
  if (!encode && canonical.kind === "ingest") return { command: canonical, bytes: undefined };
  let bytes: Uint8Array;
  try {
    bytes = batchBytes !== undefined && canonical.kind === "ingest" ? ingestBytes(canonical, batchBytes) : encodeBody(canonical);
  } catch {
    throw new VarselError("invalid_field", "the request holds a value that cannot be journaled exactly");
  }
  if (canonical.kind !== "ingest" && !isDeepStrictEqual(decodeBody(bytes), canonical)) {
    throw new VarselError("invalid_field", "the request holds a value that cannot be journaled exactly");
  }
  return { command: canonical, bytes };
}

/** msgpackr writes every plain object as a map 16 (0xde, then the entry count in two bytes). */
const MAP16 = 0xde;
/** "batch" as a MessagePack fixstr. */
const BATCH_KEY = Uint8Array.of(0xa5, ...Buffer.from("batch", "latin1"));

/**
 * An ingest's bytes around its batch's, exactly as encodeBody writes the whole command: the map
 * {kind, source, batch, channel, teams?, compact?} in that order (the order it is built in), its
 * small fields encoded here (test/frame-thread.test.ts compares the bytes).
 */
function ingestBytes(c: Extract<Command, { kind: "ingest" }>, batch: Uint8Array): Uint8Array {
  const { kind, source, batch: _, ...rest } = c;
  const head = encodeBody({ kind, source }).slice(); // a copy: encodeBody answers msgpackr's shared buffer
  const tail = encodeBody(rest);
  if (head[0] !== MAP16 || tail[0] !== MAP16) return encodeBody(c);
  const entries = 3 + Object.keys(rest).length;
  const out = Buffer.allocUnsafe(head.length + BATCH_KEY.length + batch.length + tail.length - 3);
  out[0] = MAP16;
  out.writeUInt16BE(entries, 1);
  let at = 3;
  for (const part of [head.subarray(3), BATCH_KEY, batch, tail.subarray(3)]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Teams and channel of an ingest come from the token and the server: ids, checked as ids. */
function checkSender(c: Extract<Command, { kind: "ingest" }>): Command {
  for (const t of [c.channel, ...(c.teams ?? [])]) {
    const problem = textProblem(t);
    if (problem !== undefined) throw new VarselError("invalid_field", `a sender team ${problem}`);
  }
  return c;
}

/** A plain-data copy: strings checked, -0 as 0, only arrays and plain objects. */
function plain(value: unknown, path: string): unknown {
  if (typeof value === "string") {
    if (LONE_SURROGATE_OR_NUL.test(value)) throw new VarselError("invalid_field", `${path || "/"}: text holds a lone surrogate or U+0000`, { path });
    return value;
  }
  if (typeof value === "number") return value === 0 ? 0 : value;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v, i) => plain(v, `${path}/${i}`));
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
    throw new VarselError("invalid_field", `${path || "/"}: not plain data`, { path });
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "__proto__" || LONE_SURROGATE_OR_NUL.test(k)) throw new VarselError("invalid_field", `${path}/${k.replace(/[^\x20-\x7e]/g, "?")}: this key cannot be stored`, { path });
    out[k] = plain(v, `${path}/${k}`);
  }
  return out;
}
