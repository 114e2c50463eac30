// Inhibition (Alertmanager inhibit rules), per patient and metric. Pure.
//
// - stale_data: a firing missing-data alert inhibits the value alerts (band, baseline, delta,
//   rate) of the same metric: their readings are old, the missing data is the news.
// - higher_severity: a firing red alert inhibits the yellow alerts of other rules on the same
//   metric. A missing-data alert is never inhibited by a value alert (no cycles: the data is gone).
// Only firing alerts inhibit (a latched alert whose condition cleared does not); silenced or
// inhibited sources still inhibit, as in Alertmanager. Inhibited alerts stay open and visible;
// they are not escalated. Stale data wins over severity; ties go to the older alert.
import type { Inhibition, RuleKind } from "./types.js";

/** What inhibition needs to know about an open alert. */
export interface InhibitionView {
  id: string;
  rule: string;
  ruleKind: RuleKind;
  metric: string;
  state: "firing" | "cleared_awaiting_ack";
  level: "yellow" | "red";
}

const VALUE_KINDS: ReadonlySet<RuleKind> = new Set(["band", "baseline", "delta", "rate"]);

/** The inhibitor of `target` among the patient's open alerts (oldest first), or undefined. */
export function inhibitorOf(target: InhibitionView, open: readonly InhibitionView[]): Inhibition | undefined {
  const sources = open.filter((a) => a.id !== target.id && a.metric === target.metric && a.state === "firing");
  if (VALUE_KINDS.has(target.ruleKind)) {
    const stale = sources.find((a) => a.ruleKind === "missing");
    if (stale !== undefined) return { alert: stale.id, rule: stale.rule, reason: "stale_data" };
  }
  if (target.level === "yellow" && target.ruleKind !== "missing") {
    const red = sources.find((a) => a.level === "red" && a.rule !== target.rule);
    if (red !== undefined) return { alert: red.id, rule: red.rule, reason: "higher_severity" };
  }
  return undefined;
}

/** True when two inhibitions name the same source for the same reason. */
export function sameInhibition(a: Inhibition | undefined, b: Inhibition | undefined): boolean {
  return a?.alert === b?.alert && a?.reason === b?.reason;
}
