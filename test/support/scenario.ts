// A patient with compiled rules on one evaluator, spoken to in clinical terms: read a metric at a
// time, tick the clock, and get transitions named by rule id. Used by the clinical tests, which
// run every case on both the oracle and the wasm kernel.
import { DIR_HIGH, DIR_LOW, TR_DOWNGRADE, TR_RAISE, TR_RESOLVE, TR_UPGRADE } from "../../assembly/layout.js";
import type { Evaluator, Transition } from "../../engine/evaluator.js";
import { WasmKernel } from "../../engine/kernel/wasm-kernel.js";
import { canonicalUnitOf } from "../../engine/metrics.js";
import { Oracle } from "../../engine/oracle/oracle.js";
import { compileRule } from "../../engine/rules/compile.js";
import type { RuleDef } from "../../engine/rules/definitions.js";

export type EvaluatorName = "oracle" | "wasm";
export const EVALUATORS: EvaluatorName[] = ["oracle", "wasm"];

export interface Named {
  rule: string;
  kind: "raise" | "upgrade" | "downgrade" | "resolve";
  level: "none" | "yellow" | "red";
  dir: "low" | "high" | "none";
  x: number;
  time: number;
  detail: number;
}

const KIND = { [TR_RAISE]: "raise", [TR_UPGRADE]: "upgrade", [TR_DOWNGRADE]: "downgrade", [TR_RESOLVE]: "resolve" } as const;
const LEVEL = ["none", "yellow", "red"] as const;

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const MIN = 60_000;
/** Monday 2 November 2026, 00:00 UTC. */
export const MONDAY = Date.UTC(2026, 10, 2);

export class Scenario {
  readonly ev: Evaluator;
  private readonly slots = new Map<string, number>();
  private readonly ruleNames: string[] = [];

  constructor(name: EvaluatorName, rules: RuleDef[], readonly tz = 0, armedAt = MONDAY) {
    this.ev = name === "oracle" ? new Oracle() : WasmKernel.load();
    const ctx = { slotOf: (m: string) => this.slotOf(m), canonicalUnit: canonicalUnitOf, now: armedAt };
    for (const def of rules) {
      const { rule, links } = compileRule(def, ctx);
      const id = this.addRule(rule, def.id);
      for (const slot of links) this.addRule({ ...rule, kind: 7, slot, target: id }, `${def.id}/link`);
    }
  }

  slotOf(metric: string): number {
    let slot = this.slots.get(metric);
    if (slot === undefined) {
      slot = this.ev.addSlot({ histCap: 16, ref: NaN, paused: false });
      this.slots.set(metric, slot);
    }
    return slot;
  }

  private addRule(rule: Parameters<Evaluator["addRule"]>[0], name: string): number {
    const id = this.ev.addRule(rule);
    this.ruleNames[id] = name;
    return id;
  }

  /** One reading; `now` defaults to the reading's own time. */
  read(metric: string, value: number, time: number, now = time): { triage: number; transitions: Named[] } {
    const result = this.ev.evaluate([this.slotOf(metric)], [time], [value], now, this.tz);
    return { triage: result.triage[0], transitions: this.name(result.transitions) };
  }

  /** Several readings in one batch. */
  readAll(readings: [metric: string, value: number, time: number][], now: number): { triage: number[]; transitions: Named[] } {
    const result = this.ev.evaluate(
      readings.map(([m]) => this.slotOf(m)),
      readings.map(([, , t]) => t),
      readings.map(([, v]) => v),
      now,
      this.tz,
    );
    return { triage: [...result.triage], transitions: this.name(result.transitions) };
  }

  tick(now: number): Named[] {
    return this.name(this.ev.tick(now, this.tz));
  }

  private name(list: Transition[]): Named[] {
    return list.map((t) => ({
      rule: this.ruleNames[t.rule],
      kind: KIND[t.kind as keyof typeof KIND],
      level: LEVEL[t.to],
      dir: t.dir === DIR_LOW ? "low" : t.dir === DIR_HIGH ? "high" : "none",
      x: t.x,
      time: t.time,
      detail: t.detail,
    }));
  }
}

/** The transitions reduced to what a clinician reads: "rule kind level dir". */
export function brief(list: Named[]): string[] {
  return list.map((t) => `${t.rule} ${t.kind} ${t.level} ${t.dir}`);
}
