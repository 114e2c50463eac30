// The lifecycle follows the state machine's table (engine/lifecycle/state-machine.ts), and the
// table is the one documented in that file's header. On random sequences of engine transitions
// (raise/upgrade/downgrade/resolve at random levels) for a few (patient, rule) pairs, acks and
// rule retirement, after each input:
//   - the alert's state is the `to` of step(stateBefore, input, guards): the lifecycle takes its
//     states from the table, nowhere else;
//   - that `to` is the documented transition (an independent copy below): editing one line of the
//     table changes what the lifecycle does, and this test says so;
//   - an alert is open (in the snapshot, the one alert of its pair) exactly while it is not resolved.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AlertTransition } from "../engine/engine.js";
import { VarselError } from "../engine/errors.js";
import { AlertLifecycle, step, type Alert, type AlertInput, type AlertLevel, type AlertState, type Guards, type LatchingPolicy } from "../engine/lifecycle/index.js";
import { codeOf } from "./support/code-of.js";
import { lifecycleInputs, pairs, type LifecycleInput } from "./support/lifecycle-inputs.js";

const T0 = Date.UTC(2026, 0, 14, 9, 0, 0);
const RUNS = Number(process.env.VARSEL_PROPERTY_RUNS ?? 100);

type From = AlertState | "none";

/** The transitions as state-machine.ts documents them (its header), written out independently of its table. */
function documented(from: From, input: AlertInput, g: Guards): From {
  const level = input === "raise" || input === "upgrade" || input === "downgrade";
  switch (from) {
    case "none":
      return level ? "firing" : "none";
    case "firing":
      if (input === "resolve") return g.latching && !g.acked ? "cleared_awaiting_ack" : "resolved";
      if (input === "retire") return "resolved";
      return "firing"; // a level move, or an ack (the first one stands)
    case "cleared_awaiting_ack":
      if (level) return "firing"; // reopened: the same alert
      if (input === "resolve") return "cleared_awaiting_ack";
      return "resolved"; // ack, retire
    case "resolved":
      return level ? "firing" : "resolved"; // a new raise is a new alert; an ack is refused
  }
}

type Input = LifecycleInput;

const input: fc.Arbitrary<Input> = fc.oneof(...lifecycleInputs);
const latching = fc.constantFrom<LatchingPolicy>({}, { levels: ["red"] }, { rules: ["r1"] }, { levels: ["yellow", "red"] });

function transition(patient: string, rule: string, kind: AlertTransition["kind"], level: AlertLevel, current: Alert | undefined, time: number): AlertTransition {
  const from = current === undefined || current.state === "resolved" ? "none" : current.level;
  const to = kind === "resolve" ? "none" : level;
  const priority = (to === "none" ? from : to) === "red" ? "high" : "medium";
  return {
    patient, rule, metric: "pulse", kind, from, to, direction: "high", priority,
    interpretation: to === "red" ? "HH" : to === "yellow" ? "H" : "N", time, value: 1,
  };
}


/** Runs `inputs` on a fresh lifecycle, checking every step. */
function run(policy: LatchingPolicy, inputs: Input[]): void {
  const lc = new AlertLifecycle({ rules: () => ({ kind: "band" }), latching: policy, defaultCareTeams: [{ team: "t", role: "hospital" }] });
  const latest = new Map<number, string>(); // pair → id of its newest alert (open or resolved)
  let now = T0;
  const openOf = (patient: string, rule: string) => lc.snapshot().alerts.find((a) => a.patient === patient && a.rule === rule);
  for (const [i, x] of inputs.entries()) {
    now += x.dt;
    const { patient, rule } = pairs[x.pair];
    const where = `input ${i} (${JSON.stringify(x)})`;
    if (x.kind === "ack") {
      const id = latest.get(x.pair);
      if (id === undefined) {
        expect(codeOf(() => lc.ack("a-unknown", "nurse", undefined, now)), where).toBe("not_found");
        continue;
      }
      const before = lc.get(id);
      const guards = { latching: before.latching, acked: before.ack !== undefined };
      const s = step(before.state, "ack", guards);
      expect(s.to, `${where}: the table says what the header says`).toBe(documented(before.state, "ack", guards));
      if (s.effect === "not_open") expect(codeOf(() => lc.ack(id, "nurse", undefined, now)), where).toBe("alert_not_open");
      else lc.ack(id, "nurse", undefined, now);
      expect(lc.get(id).state, where).toBe(s.to);
    } else {
      const open = openOf(patient, rule);
      const before: From = open?.state ?? "none";
      const guards = { latching: open?.latching ?? false, acked: open?.ack !== undefined };
      const what: AlertInput = x.kind === "retire" ? "retire" : x.transition;
      const s = step(before, what, guards);
      expect(s.to, `${where}: the table says what the header says`).toBe(documented(before, what, guards));
      if (x.kind === "retire") lc.retire(patient, rule, now);
      else lc.apply([transition(patient, rule, x.transition, x.level, open, now)], now);
      const after = openOf(patient, rule);
      if (open !== undefined) {
        // the same alert, in the state the table decided
        expect(lc.get(open.id).state, where).toBe(s.to);
        if (s.to !== "resolved") expect(after?.id, where).toBe(open.id);
      } else if (s.to === "none") {
        expect(after, where).toBeUndefined();
      } else {
        // a new alert (a resolved one is never reopened)
        expect(after, where).toBeDefined();
        expect(after!.id, where).not.toBe(latest.get(x.pair));
        expect(after!.state, where).toBe(s.to);
      }
    }
    // bookkeeping and invariants: open exactly while not resolved, one open alert per pair
    const all = lc.list();
    const openIds = new Set(lc.snapshot().alerts.map((a) => a.id));
    for (const a of all) expect(openIds.has(a.id), `${where}: alert ${a.id} is ${a.state}`).toBe(a.state !== "resolved");
    for (const [k, p] of pairs.entries()) {
      const mine = all.filter((a) => a.patient === p.patient && a.rule === p.rule);
      expect(mine.filter((a) => a.state !== "resolved").length, where).toBeLessThanOrEqual(1);
      if (mine.length > 0) latest.set(k, mine.at(-1)!.id);
    }
    lc.takeEvents();
  }
}

describe("lifecycle: the state machine's table decides every state", () => {
  it("after each transition, ack or retirement the alert is in the `to` of step(stateBefore, input, guards)", () => {
    fc.assert(
      fc.property(latching, fc.array(input, { minLength: 1, maxLength: 40, size: "max" }), (policy, inputs) => run(policy, inputs)),
      { numRuns: RUNS },
    );
  });

  it("covers every row of the table on a fixed sequence", () => {
    const at = (pair: number, transition: "raise" | "upgrade" | "downgrade" | "resolve", level: AlertLevel = "red"): Input => ({ kind: "transition", pair, transition, level, dt: 60_000 });
    run({ levels: ["red"] }, [
      at(0, "raise", "yellow"), at(0, "upgrade"), at(0, "raise"), at(0, "downgrade", "yellow"), { kind: "ack", pair: 0, dt: 1 }, { kind: "ack", pair: 0, dt: 1 },
      at(0, "resolve"), { kind: "ack", pair: 0, dt: 1 }, at(0, "resolve"), // firing (acked) → resolved; ack refused; resolve of nothing
      at(1, "raise"), at(1, "resolve"), at(1, "resolve"), at(1, "upgrade"), at(1, "resolve"), { kind: "ack", pair: 1, dt: 1 }, // latched, reopened, acked
      at(2, "raise"), at(2, "resolve"), { kind: "retire", pair: 2, dt: 1 }, { kind: "retire", pair: 2, dt: 1 },
      at(2, "downgrade", "yellow"), { kind: "retire", pair: 2, dt: 1 }, { kind: "ack", pair: 2, dt: 1 },
    ]);
  });
});
