// The alert state machine: one alert per (patient, rule) while it is open. Pure: it decides the
// next state and what to announce; the lifecycle applies it. Written as a table so every state
// change has exactly one line (cf. Prometheus rules/alerting.go).
//
// States
//   (none)                 no open alert for (patient, rule)
//   firing                 the engine says the condition holds (pending `for` is kept by the
//                          kernel: the engine emits `raise` only once `for` is satisfied)
//   cleared_awaiting_ack   latched: the condition cleared but nobody has acknowledged yet
//   resolved               final; the next raise opens a new alert with a new id
//
// Transitions (input: engine transition kind, `ack` by a person, `retire` when a rule is removed)
//   (none)     raise|upgrade|downgrade              → firing                 raised
//   (none)     resolve                              → (none)                 —   (nothing open)
//   firing     upgrade                              → firing                 updated(upgraded); the ack is cleared
//   firing     downgrade                            → firing                 updated(downgraded); the ack is kept
//   firing     raise (engine restarted)             → firing                 updated(upgraded|downgraded) or — at the same level
//   firing     resolve, not latching or acked       → resolved               resolved(condition_cleared)
//   firing     resolve, latching and not acked      → cleared_awaiting_ack   updated(cleared)
//   firing     ack, not yet acked                   → firing                 acknowledged
//   firing     ack, already acked                   → firing                 —   (idempotent: the first ack stands)
//   cleared    raise|upgrade|downgrade              → firing                 updated(reopened): the same alert
//   cleared    resolve                              → cleared_awaiting_ack   —
//   cleared    ack                                  → resolved               acknowledged, resolved(acknowledged)
//   firing|cleared  retire                          → resolved               resolved(rule_removed)
//   resolved   ack                                  → error alert_not_open
//
// Orthogonal to the state, kept on the alert: acknowledgement, silences, inhibition, routing.
// Timing rules (applied by the lifecycle, clock always passed in as `now`):
//   - An alert is *live* when firing, high priority, not acknowledged, not silenced and not
//     inhibited. Escalation is due `delay` after it became live (default 15 min); each further
//     step is due `delay` after the previous one (measured from the tick that escalated). Losing
//     liveness cancels the timer; becoming live again re-arms it with a full delay at the same step.
//   - Every priority change (upgrade/downgrade) routes the alert afresh: step 0, new timer.
//   - Latching is judged on the highest level reached while open (a red that went yellow before
//     clearing still latches when red latches).
//   - A silence ends at `until` (on the first tick or transition at or after it) or on deletion.
//   - Resolved alerts stay queryable for `retention.resolvedAlertMs`, then are forgotten.
import type { TransitionKind } from "../alerts.js";
import type { AlertState, UpdateChange } from "./types.js";

/** What can happen to an alert. */
export type AlertInput = TransitionKind | "ack" | "retire";

/** Guards the table needs. */
export interface Guards {
  latching: boolean;
  acked: boolean;
}

/** What to announce. `error` means the input is refused. */
export type Effect =
  | "raise"
  | "level"
  | "clear"
  | "reopen"
  | "resolve"
  | "ack"
  | "ack_resolve"
  | "retire"
  | "none"
  | "not_open";

/** The decision of one step. */
export interface Step {
  to: AlertState | "none";
  effect: Effect;
}

type From = AlertState | "none";
type Table = Record<From, Record<AlertInput, (g: Guards) => Step>>;

const same = (state: From) => (): Step => ({ to: state, effect: "none" });

const TABLE: Table = {
  none: {
    raise: () => ({ to: "firing", effect: "raise" }),
    upgrade: () => ({ to: "firing", effect: "raise" }),
    downgrade: () => ({ to: "firing", effect: "raise" }),
    resolve: same("none"),
    ack: () => ({ to: "none", effect: "not_open" }),
    retire: same("none"),
  },
  firing: {
    raise: () => ({ to: "firing", effect: "level" }),
    upgrade: () => ({ to: "firing", effect: "level" }),
    downgrade: () => ({ to: "firing", effect: "level" }),
    resolve: (g) => (g.latching && !g.acked ? { to: "cleared_awaiting_ack", effect: "clear" } : { to: "resolved", effect: "resolve" }),
    ack: (g) => (g.acked ? { to: "firing", effect: "none" } : { to: "firing", effect: "ack" }),
    retire: () => ({ to: "resolved", effect: "retire" }),
  },
  cleared_awaiting_ack: {
    raise: () => ({ to: "firing", effect: "reopen" }),
    upgrade: () => ({ to: "firing", effect: "reopen" }),
    downgrade: () => ({ to: "firing", effect: "reopen" }),
    resolve: same("cleared_awaiting_ack"),
    ack: () => ({ to: "resolved", effect: "ack_resolve" }),
    retire: () => ({ to: "resolved", effect: "retire" }),
  },
  resolved: {
    raise: () => ({ to: "firing", effect: "raise" }),
    upgrade: () => ({ to: "firing", effect: "raise" }),
    downgrade: () => ({ to: "firing", effect: "raise" }),
    resolve: same("resolved"),
    ack: () => ({ to: "resolved", effect: "not_open" }),
    retire: same("resolved"),
  },
};

/** The next state of an alert in `from` on `input` (a resolved alert that is raised again means a new alert). */
export function step(from: From, input: AlertInput, guards: Guards): Step {
  return TABLE[from][input](guards);
}

/** The `updated` change of a level move. */
export function levelChange(fromRank: number, toRank: number): UpdateChange | undefined {
  return toRank > fromRank ? "upgraded" : toRank < fromRank ? "downgraded" : undefined;
}
