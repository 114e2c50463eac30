// The host of the wasm rules kernel (assembly/, docs/kernel.md): it owns capacity (growing by
// doubling before any call that needs more), copies readings into the input columns and decodes
// the transition records. The kernel does the rest.
import { readFileSync } from "node:fs";
import { packageFile } from "../package-root.js";
import * as L from "../../assembly/layout.js";
import type { BatchResult, CompiledRule, Evaluator, Limits, ParamSet, SlotConfig, Transition } from "../evaluator.js";
import { KernelError } from "./errors.js";
import type { KernelExports } from "./exports.js";
import { checkParams, paramKey, sameParams } from "./params.js";
import { readParamSets } from "./restore.js";
import { packState, snapshotBytes, snapshotCounts, unpackState } from "./snapshot.js";
import { Views } from "./views.js";

// Local copies of the layout constants: imported bindings read much slower in hot host code
// (measured under tsx).
const {
  BLOCK_INTERVAL_STARTS,
  BLOCK_NOWS,
  BLOCK_RUNS,
  BLOCK_SLOT_RUNS,
  BLOCK_SORTED_TIME,
  BLOCK_TICKS,
  ERR_BAD_SLOT,
  ERR_OUT_FULL,
  H_BATCH_CAP,
  H_BLOCK_RUN_CAP,
  H_BLOCK_TICK_CAP,
  H_HIST_CAP,
  H_HIST_COUNT,
  H_MAX_RULES_PER_SLOT,
  H_OFF_IN_SLOT,
  H_OFF_IN_TIME,
  H_OFF_IN_VALUE,
  H_OFF_OUT,
  H_OFF_PARAMS,
  H_OFF_TRIAGE,
  H_OUT_CAP,
  H_PARAM_CAP,
  H_PARAM_COUNT,
  H_RULE_CAP,
  H_RULE_COUNT,
  H_SCORE_CAP,
  H_SCORE_COUNT,
  H_SLOT_CAP,
  H_SLOT_COUNT,
  H_STATE_END,
  KIND_SCORE,
  KIND_SCORE_LINK,
  NONE,
  RULE_BYTES,
  SCORE_INPUTS,
  SLOT_BYTES,
  SLOT_INFO_BYTES,
} = L;

const DEFAULT_WASM = packageFile("build/varsel.wasm");

/** Record capacities of a kernel (it grows them by doubling as needed). */
export interface KernelCapacity {
  slots: number;
  rules: number;
  /** History entries (sum of the slots' histCap). */
  hist: number;
  params: number;
  scores: number;
  /** Readings per kernel call. */
  batch: number;
  /** Transition records per kernel call. */
  out: number;
}

/** Capacities a fresh kernel starts with (small: tests create thousands of kernels). */
const INITIAL: KernelCapacity = { slots: 64, rules: 128, hist: 1024, params: 16, scores: 8, batch: 1024, out: 2048 };
/** evaluate() feeds at most this many readings per kernel call. */
const MAX_CHUNK = 65536;

type Caps = KernelCapacity;

const modules = new Map<string, WebAssembly.Module>();

function instantiate(wasmPath: string): KernelExports {
  let mod = modules.get(wasmPath);
  if (mod === undefined) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(readFileSync(wasmPath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`the wasm kernel ${wasmPath} is missing: run npm run build`);
      throw err;
    }
    mod = new WebAssembly.Module(bytes);
    modules.set(wasmPath, mod);
  }
  // The release build imports nothing; a debug build may import abort.
  const env = {
    abort(_msg: number, _file: number, line: number, col: number): never {
      throw new Error(`wasm kernel aborted at ${line}:${col}`);
    },
  };
  return new WebAssembly.Instance(mod, { env }).exports as unknown as KernelExports;
}

/** The capacity to grow to: doubled until it holds `need` (unchanged when it already does). */
function nextCap(current: number, need: number): number {
  if (need <= current) return current;
  let cap = Math.max(current, 1);
  while (cap < need) cap *= 2;
  return cap;
}

/** A replay block's parts in kernel memory (WasmKernel.blockViews). */
export interface BlockViews {
  slotRuns: Uint32Array;
  starts: Uint32Array;
  ticks: Float64Array;
  nows: Float64Array;
  runs: Uint32Array;
  sortedTimes: Float64Array;
}

function checkIndex(what: string, i: number, count: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`${what} ${i} does not exist`);
}

export class WasmKernel implements Evaluator {
  private readonly v: Views;
  private readonly paramIds = new Map<string, number>();
  private readonly paramObjects = new WeakMap<ParamSet, { copy: ParamSet; id: number }>();

  private constructor(private readonly ex: KernelExports) {
    this.v = new Views(ex.memory, ex.heapBase());
  }

  /**
   * Loads the kernel (synchronously) and lays out its initial capacities: small defaults, raised
   * to `capacity` where given (reserving a known size up front avoids growing step by step).
   */
  static load(wasmPath: string = DEFAULT_WASM, capacity: Partial<KernelCapacity> = {}): WasmKernel {
    const k = new WasmKernel(instantiate(wasmPath));
    const cap = { ...INITIAL };
    for (const key of Object.keys(cap) as (keyof KernelCapacity)[]) cap[key] = Math.max(cap[key], capacity[key] ?? 0);
    k.reserve(cap);
    return k;
  }

  /**
   * Up to how many bytes of state in use (slots, rules, history) evaluate() skips its prefetch
   * passes (docs/kernel.md, "Memory layout"); tests force either path (0: always prefetch).
   */
  setCachedStateBytes(bytes: number): void {
    this.ex.setCachedStateBytes(bytes >>> 0);
  }

  /** A fresh kernel that continues exactly where the one that made `bytes` (snapshot()) stopped. */
  static restore(bytes: Uint8Array, wasmPath: string = DEFAULT_WASM): WasmKernel {
    const k = WasmKernel.load(wasmPath, snapshotCounts(bytes));
    unpackState(k.v, bytes);
    readParamSets(k.v, k.hdr(H_OFF_PARAMS), k.hdr(H_PARAM_COUNT)).forEach((p, id) => k.paramIds.set(paramKey(p), id));
    return k;
  }

  // ---- Evaluator ----

  /** Adds a slot (patient x metric); returns its index. */
  addSlot(cfg: SlotConfig): number {
    if (!Number.isInteger(cfg.histCap) || cfg.histCap < 0 || cfg.histCap > 255) throw new RangeError(`histCap must be 0..255, got ${cfg.histCap}`);
    this.ensure({ slots: this.hdr(H_SLOT_COUNT) + 1, hist: this.hdr(H_HIST_COUNT) + cfg.histCap });
    const id = this.ex.addSlot(cfg.histCap) >>> 0;
    if (id === NONE) throw new Error("kernel refused addSlot");
    if (!Number.isNaN(cfg.ref)) this.ex.setSlotRef(id, cfg.ref);
    if (cfg.paused) this.ex.setSlotPaused(id, 1, 0);
    return id;
  }

  /** Sets a slot's clinician reference (NaN: none). */
  setSlotRef(slot: number, ref: number): void {
    checkIndex("slot", slot, this.hdr(H_SLOT_COUNT));
    this.ex.setSlotRef(slot, ref);
  }

  /** Pauses or unpauses a slot; unpausing re-arms its missing rules at `now`. */
  setSlotPaused(slot: number, paused: boolean, now: number): void {
    checkIndex("slot", slot, this.hdr(H_SLOT_COUNT));
    this.ex.setSlotPaused(slot, paused ? 1 : 0, now);
  }

  /** Adds a rule at the end of its slot's list; returns its id. */
  addRule(rule: CompiledRule): number {
    if (!Number.isInteger(rule.kind) || rule.kind < 0 || rule.kind > KIND_SCORE_LINK) throw new RangeError(`unknown rule kind ${rule.kind}`);
    checkIndex("slot", rule.slot, this.hdr(H_SLOT_COUNT));
    const param = this.paramId(rule.params);
    let aux = NONE;
    if (rule.kind === KIND_SCORE) aux = this.addScoreInputs(rule.scoreInputs ?? []);
    else if (rule.kind === KIND_SCORE_LINK && rule.target !== undefined && rule.target >= 0) {
      if (!Number.isInteger(rule.target)) throw new RangeError(`score link target ${rule.target} is not a rule id`);
      aux = rule.target;
    }
    this.ensure({ rules: this.hdr(H_RULE_COUNT) + 1 });
    const [l0, l1, l2, l3] = rule.limits;
    const id = this.ex.addRule(rule.kind, rule.slot, param, rule.flags, l0, l1, l2, l3, aux, rule.anchor) >>> 0;
    if (id === NONE) throw new Error("kernel refused addRule");
    return id;
  }

  /** Replaces a rule's limits (red low, yellow low, yellow high, red high; NaN = absent). */
  setRuleLimits(rule: number, limits: Limits): void {
    checkIndex("rule", rule, this.hdr(H_RULE_COUNT));
    this.ex.setRuleLimits(rule, limits[0], limits[1], limits[2], limits[3]);
  }

  /** Replaces a rule's param set; resets its timers and masks, keeps its alert. */
  setRuleParams(rule: number, params: ParamSet): void {
    checkIndex("rule", rule, this.hdr(H_RULE_COUNT));
    this.ex.setRuleParam(rule, this.paramId(params));
  }

  /** Stops evaluating a rule; its alert state stays as it was. */
  disableRule(rule: number): void {
    checkIndex("rule", rule, this.hdr(H_RULE_COUNT));
    this.ex.disableRule(rule);
  }

  /** Takes a slot's latest reading (time t) back; false when t is not its latest (see Evaluator.retractLast). */
  retractLast(slot: number, t: number): boolean {
    checkIndex("slot", slot, this.hdr(H_SLOT_COUNT));
    return this.ex.retractLast(slot, t) === 1;
  }

  /** Puts a rule back to no alert, empty timers and masks. */
  resetRule(rule: number): void {
    checkIndex("rule", rule, this.hdr(H_RULE_COUNT));
    this.ex.resetRule(rule);
  }

  /** Applies readings in order; a bad slot anywhere throws KernelError(ERR_BAD_SLOT) with nothing applied. */
  evaluate(slots: ArrayLike<number>, times: ArrayLike<number>, values: ArrayLike<number>, now: number, tzOffsetMs: number): BatchResult {
    const n = slots.length;
    if (times.length !== n || values.length !== n) throw new RangeError("slots, times and values differ in length");
    const slotCount = this.hdr(H_SLOT_COUNT);
    for (let i = 0; i < n; i++) {
      const s = slots[i];
      if (!Number.isInteger(s) || s < 0 || s >= slotCount) throw new KernelError(ERR_BAD_SLOT, `slot ${s} at reading ${i}`);
    }
    const triage = new Uint8Array(n);
    const transitions: Transition[] = [];
    for (let start = 0; start < n; start += MAX_CHUNK) {
      const len = Math.min(MAX_CHUNK, n - start);
      const cols = this.inputColumns(len);
      for (let i = 0; i < len; i++) {
        cols.slots[i] = slots[start + i];
        cols.times[i] = times[start + i];
        cols.values[i] = values[start + i];
      }
      const count = this.run(len, now, tzOffsetMs);
      triage.set(this.triage(len), start);
      for (const t of this.v.transitions(this.hdr(H_OFF_OUT), count, start)) transitions.push(t);
    }
    return { triage, transitions };
  }

  /** Runs the clock: missing rules and rules with for/keep timers, in rule id order. */
  tick(now: number, tzOffsetMs: number): Transition[] {
    return this.readTransitions(this.runTick(now, tzOffsetMs));
  }

  // ---- fast path (benchmarks, ingest) ----

  /**
   * Views of the input columns sized for n readings (capacity is ensured first). Fill them,
   * then call run(n, ...). The views are only valid until the next call that can grow memory.
   */
  inputColumns(n: number): { slots: Uint32Array; times: Float64Array; values: Float32Array } {
    this.ensure({ batch: n, out: n * this.hdr(H_MAX_RULES_PER_SLOT) * 2 });
    const { buffer } = this.v.fresh().u8;
    return {
      slots: new Uint32Array(buffer, this.hdr(H_OFF_IN_SLOT), n),
      times: new Float64Array(buffer, this.hdr(H_OFF_IN_TIME), n),
      values: new Float32Array(buffer, this.hdr(H_OFF_IN_VALUE), n),
    };
  }

  /**
   * Evaluates the first n readings of the input columns; returns the transition count (read
   * them with readTransitions). Grows the output region and retries when it is too small;
   * throws KernelError for a bad slot or an oversized batch (nothing applied).
   */
  run(n: number, now: number, tzOffsetMs: number): number {
    let count = this.ex.evaluate(n, now, tzOffsetMs);
    if (count === ERR_OUT_FULL) {
      this.ensure({ out: n * this.hdr(H_MAX_RULES_PER_SLOT) * 2 });
      count = this.ex.evaluate(n, now, tzOffsetMs);
    }
    if (count < 0) throw new KernelError(count);
    return count;
  }

  /** tick() without decoding: the transition count (read them with readTransitions or transitionRecords). */
  runTick(now: number, tzOffsetMs: number): number {
    let count = this.ex.tick(now, tzOffsetMs);
    if (count === ERR_OUT_FULL) {
      this.ensure({ out: 2 * this.hdr(H_RULE_COUNT) });
      count = this.ex.tick(now, tzOffsetMs);
    }
    if (count < 0) throw new KernelError(count);
    return count;
  }

  // ---- replay blocks (a backtest: assembly/replay.ts, docs/kernel.md "Replay blocks") ----

  /**
   * Makes room for replay blocks of up to `batch` readings (the input columns), `ticks` tick
   * instants and `runs` runs, with room in the transition region for `segment` readings of one
   * patient in one interval and one tick of `widestRun` rules; returns views of the block's parts
   * (BLOCK_* in assembly/layout.ts; the sorted times for reading transitions' times). Valid until
   * the next call that can grow memory; the input columns are inputColumns().
   */
  blockViews(batch: number, ticks: number, runs: number, segment: number, widestRun: number): BlockViews {
    this.ensure({ batch, out: Math.max(segment * this.hdr(H_MAX_RULES_PER_SLOT) * 2, widestRun * 2) });
    if (ticks > this.hdr(H_BLOCK_TICK_CAP) || runs > this.hdr(H_BLOCK_RUN_CAP)) {
      const rc = this.ex.reserveBlock(nextCap(this.hdr(H_BLOCK_TICK_CAP), ticks), nextCap(this.hdr(H_BLOCK_RUN_CAP), runs));
      if (rc < 0) throw new KernelError(rc);
    }
    const { buffer } = this.v.fresh().u8;
    const at = (part: number) => this.ex.blockAt(part) >>> 0;
    const tCap = this.hdr(H_BLOCK_TICK_CAP);
    return {
      slotRuns: new Uint32Array(buffer, at(BLOCK_SLOT_RUNS), this.hdr(H_SLOT_COUNT)),
      starts: new Uint32Array(buffer, at(BLOCK_INTERVAL_STARTS), tCap + 1),
      ticks: new Float64Array(buffer, at(BLOCK_TICKS), 2 * tCap),
      nows: new Float64Array(buffer, at(BLOCK_NOWS), 2 * (tCap + 1)),
      runs: new Uint32Array(buffer, at(BLOCK_RUNS), 4 * this.hdr(H_BLOCK_RUN_CAP)),
      sortedTimes: new Float64Array(buffer, at(BLOCK_SORTED_TIME), this.hdr(H_BATCH_CAP)),
    };
  }

  /**
   * Replays a filled block (n readings, m ticks, p runs) from its start; returns the transition
   * count of this first part (read with transitionRecords; readings index the sorted columns).
   * While blockPending(), resumeBlock() gives the next part: nothing may grow memory between.
   * Throws KernelError with nothing applied when the block is malformed.
   */
  runBlock(n: number, m: number, p: number): number {
    const count = this.ex.replayBlock(n, m, p);
    if (count < 0) throw new KernelError(count);
    return count;
  }

  resumeBlock(): number {
    const count = this.ex.replayResume();
    if (count < 0) throw new KernelError(count);
    return count;
  }

  blockPending(): boolean {
    return this.ex.replayPending() === 1;
  }

  /**
   * The transition records of the last run() or runTick() where they lie: record k at byte
   * `at + k * TR_BYTES` of the views (fields at the TR_* offsets of assembly/layout.ts). For a
   * caller that needs a few fields of many transitions without an object each; valid until the
   * next call that can grow memory.
   */
  transitionRecords(): { at: number; u8: Uint8Array; u32: Uint32Array; i32: Int32Array; f64: Float64Array } {
    const { u8, u32, i32, f64 } = this.v.fresh();
    return { at: this.hdr(H_OFF_OUT), u8, u32, i32, f64 };
  }

  /** The first `count` transition records of the last run() or tick() (readings relative to that call). */
  readTransitions(count: number): Transition[] {
    return this.v.transitions(this.hdr(H_OFF_OUT), count);
  }

  /** Triage codes of the last run(): a view, valid until the next call that can grow memory. */
  triage(n: number): Uint8Array {
    return new Uint8Array(this.v.fresh().u8.buffer, this.hdr(H_OFF_TRIAGE), n);
  }

  // ---- state ----

  /**
   * A copy of the kernel state: the header and the used records of every region (snapshot.ts).
   * With `into`, the copy goes into that memory when it is large enough (its old bytes are
   * overwritten: the caller must be done with them): a durable engine snapshots every minute, and
   * a fresh 100 MB each time makes V8 run a full garbage collection of the whole heap inside it.
   */
  snapshot(options: { into?: Uint8Array } = {}): Uint8Array {
    return packState(this.v, options.into);
  }

  /** Counts and bytes of state (slot bytes: hot + cold record; rule bytes per record; history counted apart). */
  stats(): { slots: number; rules: number; histEntries: number; stateBytes: number; snapshotBytes: number; slotBytes: number; ruleBytes: number; histBytes: number } {
    const slots = this.hdr(H_SLOT_COUNT);
    const rules = this.hdr(H_RULE_COUNT);
    const histEntries = this.hdr(H_HIST_COUNT);
    return {
      slots,
      rules,
      histEntries,
      stateBytes: this.hdr(H_STATE_END) - this.v.base,
      snapshotBytes: snapshotBytes(this.v),
      slotBytes: slots * (SLOT_BYTES + SLOT_INFO_BYTES),
      ruleBytes: rules * RULE_BYTES,
      histBytes: histEntries * 12,
    };
  }

  // ---- internals ----

  private hdr(field: number): number {
    return this.v.header(field);
  }

  private caps(): Caps {
    return {
      slots: this.hdr(H_SLOT_CAP),
      rules: this.hdr(H_RULE_CAP),
      hist: this.hdr(H_HIST_CAP),
      params: this.hdr(H_PARAM_CAP),
      scores: this.hdr(H_SCORE_CAP),
      batch: this.hdr(H_BATCH_CAP),
      out: this.hdr(H_OUT_CAP),
    };
  }

  /** Grows (by doubling) every capacity below its need, in one reserve() call. */
  private ensure(need: Partial<Caps>): void {
    // Most calls need one capacity that is there already (addSlot and addRule at every patient's set-up).
    if (
      (need.slots === undefined || need.slots <= this.hdr(H_SLOT_CAP)) &&
      (need.rules === undefined || need.rules <= this.hdr(H_RULE_CAP)) &&
      (need.hist === undefined || need.hist <= this.hdr(H_HIST_CAP)) &&
      (need.params === undefined || need.params <= this.hdr(H_PARAM_CAP)) &&
      (need.scores === undefined || need.scores <= this.hdr(H_SCORE_CAP)) &&
      (need.batch === undefined || need.batch <= this.hdr(H_BATCH_CAP)) &&
      (need.out === undefined || need.out <= this.hdr(H_OUT_CAP))
    )
      return;
    const slots = need.slots ?? 0;
    const rules = need.rules ?? 0;
    const hist = need.hist ?? 0;
    const params = need.params ?? 0;
    const scores = need.scores ?? 0;
    const batch = need.batch ?? 0;
    const out = need.out ?? 0;
    const c = this.caps();
    if (slots <= c.slots && rules <= c.rules && hist <= c.hist && params <= c.params && scores <= c.scores && batch <= c.batch && out <= c.out) return;
    this.reserve({
      slots: nextCap(c.slots, slots),
      rules: nextCap(c.rules, rules),
      hist: nextCap(c.hist, hist),
      params: nextCap(c.params, params),
      scores: nextCap(c.scores, scores),
      batch: nextCap(c.batch, batch),
      out: nextCap(c.out, out),
    });
  }

  private reserve(c: Caps): void {
    const rc = this.ex.reserve(c.slots, c.rules, c.hist, c.params, c.scores, c.batch, c.out);
    if (rc < 0) throw new KernelError(rc);
    this.v.fresh();
  }

  private paramId(p: ParamSet): number {
    // Fast path: the same ParamSet object as before, unchanged (programme defaults are shared).
    const seen = this.paramObjects.get(p);
    if (seen !== undefined && sameParams(seen.copy, p)) return seen.id;
    checkParams(p);
    const id = this.paramIdByValue(p);
    this.paramObjects.set(p, { copy: { ...p }, id });
    return id;
  }

  private paramIdByValue(p: ParamSet): number {
    const key = paramKey(p);
    const known = this.paramIds.get(key);
    if (known !== undefined) return known;
    this.ensure({ params: this.hdr(H_PARAM_COUNT) + 1 });
    const id =
      this.ex.addParamSet(p.forMs, p.keepMs, p.windowMs, p.horizonMs, p.deadlineMs, p.graceMs, p.margin, p.n, p.m, p.mode, p.minCount, p.weekdays, p.everyNDays, p.enrolmentDay) >>> 0;
    if (id === NONE) throw new Error("kernel refused addParamSet (at most 65536 param sets)");
    this.paramIds.set(key, id);
    return id;
  }

  private addScoreInputs(inputs: number[]): number {
    if (inputs.length > SCORE_INPUTS) throw new RangeError(`a score rule has at most ${SCORE_INPUTS} inputs`);
    const ids = Array.from({ length: SCORE_INPUTS }, (_, i) => {
      const s = inputs[i];
      if (s === undefined || s < 0) return NONE;
      if (!Number.isInteger(s)) throw new RangeError(`score input ${s} is not a slot index`);
      return s;
    });
    this.ensure({ scores: this.hdr(H_SCORE_COUNT) + 1 });
    const id = this.ex.addScoreInputs(ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]) >>> 0;
    if (id === NONE) throw new Error("kernel refused addScoreInputs");
    return id;
  }

  /** Number of param sets (deduplicated) in the kernel. */
  get paramSetCount(): number {
    return this.hdr(H_PARAM_COUNT);
  }
}
