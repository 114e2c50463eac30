// json-rules-engine 7 configured with the same band rules as the kernel, for
// `npm run bench:kernel`. One Engine, four rules (red-low, yellow-low, yellow-high, red-high)
// comparing the reading's value with the slot's limits, which are passed as facts with the
// reading: per-slot limits without one rule set per slot, the closest faithful configuration.
// `await engine.run(facts)` once per reading; the triage is the most severe event, with the
// kernel's precedence (LL, HH, L, H, else N).
import { Engine, type RuleProperties } from "json-rules-engine";
import { TRIAGE_H, TRIAGE_HH, TRIAGE_L, TRIAGE_LL, TRIAGE_N } from "../../assembly/layout.js";
import { METRICS, METRIC_COUNT } from "./workload.js";

const bandRule = (name: string, limitFact: string, operator: "lessThan" | "greaterThan", code: number): RuleProperties => ({
  name,
  conditions: { all: [{ fact: "value", operator, value: { fact: limitFact } }] },
  event: { type: name, params: { code } },
});

export function makeJreEngine(): Engine {
  return new Engine(
    [
      bandRule("red-low", "l0", "lessThan", TRIAGE_LL),
      bandRule("yellow-low", "l1", "lessThan", TRIAGE_L),
      bandRule("yellow-high", "l2", "greaterThan", TRIAGE_H),
      bandRule("red-high", "l3", "greaterThan", TRIAGE_HH),
    ],
    { allowUndefinedFacts: false },
  );
}

const SEVERITY: Record<number, number> = { [TRIAGE_LL]: 4, [TRIAGE_HH]: 3, [TRIAGE_L]: 2, [TRIAGE_H]: 1 };

/** Evaluates readings [start, end) one `engine.run` each; writes triage codes into `out`
 *  (indexed from 0) when given. */
export async function runJre(
  engine: Engine,
  slots: Uint32Array,
  values: Float32Array,
  limits: Float32Array,
  start: number,
  end: number,
  out?: Uint8Array,
): Promise<void> {
  for (let i = start; i < end; i++) {
    const s = slots[i];
    const o = s * 4;
    const res = await engine.run({
      metric: METRICS[s % METRIC_COUNT],
      value: values[i],
      l0: limits[o],
      l1: limits[o + 1],
      l2: limits[o + 2],
      l3: limits[o + 3],
    });
    if (out) {
      let code = TRIAGE_N;
      let sev = 0;
      for (const ev of res.events) {
        const c = (ev.params as { code: number }).code;
        if (SEVERITY[c] > sev) {
          sev = SEVERITY[c];
          code = c;
        }
      }
      out[i - start] = code;
    }
  }
}
