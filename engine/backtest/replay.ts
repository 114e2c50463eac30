// One rule set's replay: the cohort configured on its own evaluators (one per combination of
// programmes, each with its own tick plan: tick-plan.ts says why), readings fed as columns in
// time order, the virtual clock ticked between them, transitions recorded as episodes. Nothing here touches the
// live engine: every evaluator is a fresh instance.
//
// Order, as the live pipeline applies it: readings before a tick instant T are evaluated (with
// `now` = the newest of them, so a missing rule judged at a reading sees no deadline that a tick
// has not yet seen), then tick(T). Readings come per group in batches of at most BATCH. The wasm
// kernel takes them in replay blocks (kernel-block.ts: the same calls per rule, patient by
// patient, so a patient's state is loaded once a block); another evaluator (the oracle) takes
// evaluate() and tick() calls over the group. Transitions are read where the kernel wrote them
// (no object per transition, no array per call: a cohort-year is 100 000s of kernel calls).
import { CACHED_STATE_BYTES, TR_BYTES, TR_READING, TR_RULE, TR_TIME, TR_TO } from "../../assembly/layout.js";
import { DEFAULT_TIME_ZONE, utcOffsetMs } from "../clock.js";
import { Engine } from "../engine.js";
import type { Evaluator, Transition } from "../evaluator.js";
import { WasmKernel } from "../kernel/wasm-kernel.js";
import { METRIC_COUNT, METRICS } from "../metrics.js";
import type { RuleDef } from "../rules/definitions.js";
import { effectiveRules, programmeSets, programmesOf, type ProgrammeId } from "../rules/programmes.js";
import { EpisodeLog } from "./episodes.js";
import { INTERVAL_MAX, KernelBlock, sortByTime, type TransitionSink } from "./kernel-block.js";
import { TickPlan } from "./tick-plan.js";
import type { BacktestPatient } from "./types.js";

const BATCH = 65_536;
/** A local copy: an imported binding reads slower in the per-reading loop (as engine/kernel/wasm-kernel.ts found under tsx). */
const METRICS_PER_PATIENT = METRIC_COUNT;

/** The patients of one combination of programmes on one evaluator. */
interface Group {
  engine: Engine;
  ev: Evaluator;
  /** The wasm kernel when it takes the group's batches directly (its input columns are then the batch fields below). */
  wasm: WasmKernel | undefined;
  /** The wasm kernel's staged block, for a group whose state outgrows the cache (the batch fields are then unused). */
  block: KernelBlock | undefined;
  plan: TickPlan;
  nextTick: number;
  lastTick: number;
  /**
   * Where the batch waits: the kernel's own input columns (views of its memory, fetched again
   * when memory grew or a new slot moved them), or arrays of ours for another evaluator.
   */
  slots: Uint32Array;
  times: Float64Array;
  values: Float32Array | Float64Array;
  n: number;
  sorted: boolean;
  /** Per evaluator rule id: the cohort index of its patient (-1 until first seen), its rule name index, its open episode. */
  rulePatient: Int32Array;
  ruleName: Int32Array;
  ruleEpisode: Int32Array;
  recordBlock?: TransitionSink;
}

export interface ReplaySetup {
  name: string;
  /** A programme's rules under this rule set. */
  programmeRules: (id: ProgrammeId) => RuleDef[];
  patients: readonly BacktestPatient[];
  patientIndex: ReadonlyMap<string, number>;
  /** Rule names shared by every rule set of a backtest (episodes store the index). */
  ruleNames: Map<string, number>;
  from: number;
  to: number;
  tickStepMs: number;
  /** A fresh evaluator for `patients` patients (the count lets the kernel reserve its capacity once). */
  evaluator: (patients: number) => Evaluator;
  /** When the wasm kernel takes a group in replay blocks: by its state's size (default), always or never (tests, benchmarks). */
  blocks?: BlockMode;
  timeZone?: string;
}

export type BlockMode = "auto" | "always" | "never";

export class RuleSetReplay {
  readonly name: string;
  readonly episodes = new EpisodeLog();
  transitions = 0;
  private readonly groups: Group[] = [];
  private readonly groupOf: Uint16Array;
  /** Slot of (patient, metric), -1 until allocated. */
  private readonly slotTable: Int32Array;
  /** Late readings of kernel groups in the current push(). */
  private blockLate = 0;
  /** A patient's position in its group (a kernel group's runs). */
  private readonly localOf: Int32Array;
  private readonly timeZone: string;

  constructor(private readonly setup: ReplaySetup) {
    this.name = setup.name;
    this.timeZone = setup.timeZone ?? DEFAULT_TIME_ZONE;
    const { patients, from } = setup;
    this.groupOf = new Uint16Array(patients.length);
    this.slotTable = new Int32Array(patients.length * METRIC_COUNT).fill(-1);
    this.localOf = new Int32Array(patients.length);
    // Patients on the same programmes (in whatever order) share an evaluator and a tick plan.
    const byProgrammes = new Map<string, number[]>();
    patients.forEach((p, i) => {
      const key = programmesOf(p).sort().join(",");
      let list = byProgrammes.get(key);
      if (list === undefined) byProgrammes.set(key, (list = []));
      list.push(i);
    });
    for (const [key, members] of byProgrammes) {
      const ev = setup.evaluator(members.length);
      const engine = new Engine({ evaluator: ev, programmeRules: setup.programmeRules, timeZone: this.timeZone });
      const sets = key === "" ? [] : programmeSets(key.split(",") as ProgrammeId[], setup.programmeRules);
      // The merged set of patients without overrides: one list shared by the tick plan.
      const base = effectiveRules(sets).map((e) => e.rule);
      const ruleLists: RuleDef[][] = [];
      for (const i of members) {
        const p = patients[i];
        const programmes = programmesOf(p);
        engine.configurePatient(p.id, { programmes, rules: p.overrides, references: p.references }, from);
        ruleLists.push(p.overrides === undefined || p.overrides.length === 0 ? base : effectiveRules(sets, p.overrides).map((e) => e.rule));
        this.groupOf[i] = this.groups.length;
      }
      const plan = new TickPlan(unique(ruleLists), setup.tickStepMs, this.timeZone);
      let block: KernelBlock | undefined;
      let wasm: WasmKernel | undefined;
      let cols: { slots: Uint32Array; times: Float64Array; values: Float32Array | Float64Array } = { slots: new Uint32Array(0), times: new Float64Array(0), values: new Float64Array(0) };
      if (ev instanceof WasmKernel && (setup.blocks === "always" || (setup.blocks !== "never" && !cacheResident(ev)))) {
        members.forEach((p, local) => (this.localOf[p] = local));
        const index = setup.patientIndex;
        const registry = engine.patients;
        block = new KernelBlock(
          ev,
          {
            count: members.length,
            localOf: this.localOf,
            ruleOwner: (r) => index.get(registry.rule(r).patient)!,
            slotOwner: (s) => index.get(registry.slotOwner(s).patient)!,
          },
          this.timeZone,
        );
      } else if (ev instanceof WasmKernel) {
        wasm = ev;
        cols = ev.inputColumns(BATCH);
      } else cols = { slots: new Uint32Array(BATCH), times: new Float64Array(BATCH), values: new Float64Array(BATCH) };
      this.groups.push({
        engine,
        ev,
        wasm,
        block,
        plan,
        nextTick: this.capped(plan.next(from)),
        lastTick: from,
        ...cols,
        n: 0,
        sorted: true,
        rulePatient: new Int32Array(0),
        ruleName: new Int32Array(0),
        ruleEpisode: new Int32Array(0),
      });
    }
  }

  /**
   * Feeds n readings (cohort patient index, metric index, time, value), all within the period.
   * Returns how many came before their group's last tick (late: evaluated, as a late upload is).
   */
  push(n: number, patient: Uint32Array, metric: Uint8Array, time: Float64Array, value: Float64Array): number {
    const groups = this.groups;
    const groupOf = this.groupOf;
    const slotTable = this.slotTable;
    let late = 0;
    let i = 0;
    this.blockLate = 0;
    // A run of readings of one group (a CGM window: 1 000 in a row) with the group's batch state
    // in locals; anything rare (a tick instant, a full batch, a new slot) leaves the inner loop.
    while (i < n) {
      const gi = groupOf[patient[i]];
      const g = groups[gi];
      if (g.block !== undefined) {
        i = this.pushBlock(g, g.block, gi, i, n, patient, metric, time, value);
        continue;
      }
      let { slots, times, values, n: k, sorted } = g;
      const { nextTick, lastTick } = g;
      for (; i < n; i++) {
        const p = patient[i];
        if (groupOf[p] !== gi) break;
        const t = time[i];
        if (t >= nextTick || k === BATCH) break;
        const slot = slotTable[p * METRICS_PER_PATIENT + metric[i]];
        if (slot < 0) break;
        if (t < lastTick) late++;
        if (k > 0 && t < times[k - 1]) sorted = false;
        slots[k] = slot;
        times[k] = t;
        values[k] = value[i];
        k++;
      }
      g.n = k;
      g.sorted = sorted;
      if (i === n || groupOf[patient[i]] !== gi) continue;
      // The reading that left the loop, the general way.
      const p = patient[i];
      const t = time[i];
      if (t >= g.nextTick) this.advanceGroup(g, t);
      else if (t < g.lastTick) late++;
      const key = p * METRICS_PER_PATIENT + metric[i];
      let slot = slotTable[key];
      if (slot < 0) slot = slotTable[key] = this.allocate(g, p, metric[i]);
      k = g.n;
      if (k === BATCH) {
        this.flush(g);
        k = 0;
      }
      ({ slots, times, values } = g);
      if (k > 0 && t < times[k - 1]) g.sorted = false;
      slots[k] = slot;
      times[k] = t;
      values[k] = value[i];
      g.n = k + 1;
      i++;
    }
    return late + this.blockLate;
  }

  /** push() for a kernel group's run of readings from i: staged for its block; returns where the run ended. */
  private pushBlock(g: Group, b: KernelBlock, gi: number, i: number, n: number, patient: Uint32Array, metric: Uint8Array, time: Float64Array, value: Float64Array): number {
    const groupOf = this.groupOf;
    const slotTable = this.slotTable;
    while (i < n) {
      const { slots, times, values } = b;
      const { nextTick, lastTick } = g;
      let { n: k, inInterval: c, newest, sorted } = b;
      let late = 0;
      for (; i < n; i++) {
        const p = patient[i];
        if (groupOf[p] !== gi) break;
        const t = time[i];
        if (t >= nextTick || c === INTERVAL_MAX) break;
        const slot = slotTable[p * METRICS_PER_PATIENT + metric[i]];
        if (slot < 0) break;
        if (t < lastTick) late++;
        if (t < newest) sorted = false;
        else newest = t;
        slots[k] = slot;
        times[k] = t;
        values[k] = value[i];
        k++;
        c++;
      }
      b.n = k;
      b.inInterval = c;
      b.newest = newest;
      b.sorted = sorted;
      this.blockLate += late;
      if (i === n || groupOf[patient[i]] !== gi) return i;
      // The reading that left the loop, the general way; the loop above stages it on its next turn.
      const p = patient[i];
      const t = time[i];
      if (t >= g.nextTick) this.advanceGroup(g, t);
      const key = p * METRICS_PER_PATIENT + metric[i];
      if (slotTable[key] < 0) {
        slotTable[key] = this.allocate(g, p, metric[i]);
        b.refresh();
      }
      if (b.full) b.cut(this.sink(g));
    }
    return i;
  }

  /** Ticks every group through the instants up to `time` (no reading before `time` is still to come). */
  advance(time: number): void {
    for (const g of this.groups) if (g.nextTick <= time) this.advanceGroup(g, time);
  }

  /** Evaluates what is left, ticks to the period's end and ends the open episodes there. */
  finish(): void {
    this.advance(this.setup.to);
    for (const g of this.groups) {
      if (g.block !== undefined) g.block.cut(this.sink(g));
      else this.flush(g);
    }
    this.episodes.closeAll(this.setup.to);
  }

  /**
   * The slot of (patient, metric), first seen: most exist since the patient was configured; a new
   * one may make the kernel move its input columns to make room (their readings move along).
   */
  private allocate(g: Group, patient: number, metric: number): number {
    const id = this.setup.patients[patient].id;
    const key = METRICS[metric].key;
    const known = g.engine.patients.existingSlot(id, key);
    if (known !== undefined) return known;
    const slot = g.engine.patients.slotOf(id, key);
    if (g.wasm !== undefined) Object.assign(g, g.wasm.inputColumns(BATCH));
    return slot;
  }

  /** After a kernel call: memory may have grown (the old views are then empty). */
  private refresh(g: Group): void {
    if (g.wasm !== undefined && g.slots.length === 0) Object.assign(g, g.wasm.inputColumns(BATCH));
  }

  private advanceGroup(g: Group, time: number): void {
    while (g.nextTick <= time) {
      const at = g.nextTick;
      if (g.block !== undefined) g.block.tick(at, this.sink(g));
      else {
        this.flush(g);
        const tz = utcOffsetMs(this.timeZone, at);
        if (g.wasm !== undefined) {
          const count = g.wasm.runTick(at, tz);
          this.refresh(g);
          this.recordKernel(g, g.wasm, count, g.times);
        } else this.record(g, g.ev.tick(at, tz));
      }
      g.lastTick = at;
      g.nextTick = this.capped(g.plan.next(at));
    }
  }

  /** Where a kernel group's block calls leave their transitions. */
  private sink(g: Group): TransitionSink {
    return (g.recordBlock ??= (kernel, count, times) => this.recordKernel(g, kernel, count, times));
  }

  private capped(at: number): number {
    return at <= this.setup.to ? at : Infinity;
  }

  private flush(g: Group): void {
    const n = g.n;
    if (n === 0) return;
    if (!g.sorted) sortByTime(g.slots, g.times, g.values, 0, n);
    const now = g.times[n - 1];
    const tz = utcOffsetMs(this.timeZone, now);
    if (g.wasm !== undefined) {
      const count = g.wasm.run(n, now, tz);
      this.refresh(g);
      this.recordKernel(g, g.wasm, count, g.times);
    } else {
      this.record(g, g.ev.evaluate(g.slots.subarray(0, n), g.times.subarray(0, n), g.values.subarray(0, n), now, tz).transitions, g.times as Float64Array);
    }
    g.n = 0;
    g.sorted = true;
  }

  /**
   * Records transitions as episodes. `times`: the batch's reading times. A missing rule judged at
   * a reading is stamped with the batch's `now`; its level is the same at the reading's own time
   * (no tick instant, hence no deadline, lies between), so the reading's time is the time it
   * would have had live, where `now` is the reading's arrival.
   */
  private record(g: Group, transitions: readonly Transition[], times?: Float64Array): void {
    for (const t of transitions) this.apply(g, t.rule, t.to, times !== undefined && t.reading >= 0 ? times[t.reading] : t.time);
  }

  /** record() for the kernel: its last call's `count` transition records read in place (readings' times in `times`: the call's input column). */
  private recordKernel(g: Group, kernel: WasmKernel, count: number, times: Float64Array): void {
    if (count === 0) return;
    const { at, u8, u32, i32, f64 } = kernel.transitionRecords();
    for (let k = 0, p = at; k < count; k++, p += TR_BYTES) {
      const reading = i32[(p + TR_READING) >>> 2];
      this.apply(g, u32[(p + TR_RULE) >>> 2], u8[p + TR_TO], reading >= 0 ? times[reading] : f64[(p + TR_TIME) >>> 3]);
    }
  }

  /** One transition of evaluator rule r to level `to` at `time`. */
  private apply(g: Group, r: number, to: number, time: number): void {
    const log = this.episodes;
    this.transitions++;
    if (r >= g.rulePatient.length) growRules(g, r + 1);
    if (g.rulePatient[r] < 0) {
      const info = g.engine.patients.rule(r);
      g.rulePatient[r] = this.setup.patientIndex.get(info.patient)!;
      let name = this.setup.ruleNames.get(info.ruleId);
      if (name === undefined) this.setup.ruleNames.set(info.ruleId, (name = this.setup.ruleNames.size));
      g.ruleName[r] = name;
    }
    const open = g.ruleEpisode[r];
    // A change of direction is a resolve then a raise; an upgrade or downgrade moves the episode.
    if (open >= 0 && log.isOpen(open)) {
      log.move(open, time, to);
      if (to === 0) g.ruleEpisode[r] = -1;
    } else if (to > 0) {
      g.ruleEpisode[r] = log.open(g.rulePatient[r], g.ruleName[r], time, to);
    }
  }
}

function growRules(g: Group, need: number): void {
  const size = Math.max(need, g.rulePatient.length * 2, 1024);
  const patient = new Int32Array(size).fill(-1);
  const name = new Int32Array(size).fill(-1);
  const episode = new Int32Array(size).fill(-1);
  patient.set(g.rulePatient);
  name.set(g.ruleName);
  episode.set(g.ruleEpisode);
  g.rulePatient = patient;
  g.ruleName = name;
  g.ruleEpisode = episode;
}

/**
 * Does the group's kernel state stay in the cache (the bound evaluate() itself uses to skip its
 * prefetch)? Then the group goes to the kernel in time order, batch by batch; a bigger one in
 * replay blocks, patient by patient. Measured (bench:backtest, bench/README.md): blocks cut the
 * kernel's time per COPD/heart-failure reading by about a third (5 000 patients a group), while
 * on the 1 000 CGM patients, whose state is cached, sorting and per-patient ticks cost more than
 * they save.
 */
function cacheResident(k: WasmKernel): boolean {
  const s = k.stats();
  return s.slotBytes + s.ruleBytes + s.histBytes <= CACHED_STATE_BYTES;
}

/** The distinct rule lists (patients of the same programmes without overrides share one). */
function unique(lists: RuleDef[][]): RuleDef[][] {
  return [...new Set(lists)];
}
