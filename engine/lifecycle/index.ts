// The alert lifecycle's public surface: import from "engine/lifecycle/index.js".
export { AlertLifecycle, DEFAULT_ESCALATION_DELAY_MS, DEFAULT_KEEP_READINGS, DEFAULT_LATCHING, DEFAULT_RESOLVED_ALERTS_PER_PATIENT, DEFAULT_RESOLVED_RETENTION_MS } from "./lifecycle.js";
export { DEFAULT_MAX_EVENT_AGE_MS, DEFAULT_MAX_EVENTS, EventLog } from "./event-log.js";
export { limitsInForce } from "./rules.js";
export { reviewItems, type ReviewItem, type ReviewSource } from "./review.js";
export { coversHours, entryMatches, localTime, nextInChain, route, teamsOf, validateChain, type LocalTime } from "./routing.js";
export { step, type AlertInput, type Effect, type Guards, type Step } from "./state-machine.js";
export type * from "./types.js";
