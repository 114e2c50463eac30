// Programme default threshold sets (OpenTele StandardThresholdSet; FUT ActivityDefinition).
// A clinician overrides them per patient by rule id. Sources: ../shared/spec/rules.md
// (ESC heart-failure advice, TELBIL bands, Nightscout CGM defaults, NEWS2) and thresholds.md.
import { VarselError } from "../errors.js";
import type { RuleDef } from "./definitions.js";
import { mergeProgrammes, type EffectiveRule } from "./merge.js";

export type ProgrammeId = "telekol" | "telehjerte" | "cgm" | "niv";

export interface Programme {
  id: ProgrammeId;
  name: string;
  rules: RuleDef[];
}

const TELEKOL: Programme = {
  id: "telekol",
  name: "TeleKOL (COPD)",
  rules: [
    // SpO2 yellow 88–92 %, red below 88 % (national guide example).
    { id: "spo2-band", kind: "band", metric: "spo2", limits: { redLow: 88, yellowLow: 92 }, modifiers: { clearMargin: 1 } },
    // A drop of a few points from the personal baseline (median of the last 14 days, >= 3 readings).
    {
      id: "spo2-drop",
      kind: "baseline",
      metric: "spo2",
      mode: "points",
      limits: { redLow: -5, yellowLow: -3 },
      computed: { window: "14d", minCount: 3 },
    },
    { id: "pulse-band", kind: "band", metric: "pulse", limits: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 110 } },
    { id: "temp-band", kind: "band", metric: "temp", limits: { redLow: 35, yellowLow: 36, yellowHigh: 38, redHigh: 39 } },
    { id: "resp-band", kind: "band", metric: "resp_rate", limits: { redLow: 9, yellowLow: 12, yellowHigh: 24, redHigh: 29 } },
    { id: "spo2-missing", kind: "missing", metric: "spo2", daily: { deadline: "23:59", grace: "2h", weekdays: ["mon", "thu"] } },
  ],
};

const TELEHJERTE: Programme = {
  id: "telehjerte",
  name: "TeleHjerte (heart failure)",
  rules: [
    // Fluid retention: > 2 kg in 3 days (ESC) is red, > 1 kg (older studies) yellow; a fast loss (over-diuresis) too.
    { id: "weight-change", kind: "delta", metric: "weight", window: "72h", limits: { redLow: -3, yellowLow: -2, yellowHigh: 1, redHigh: 2 } },
    { id: "bp-sys-band", kind: "band", metric: "bp_sys", limits: { redLow: 90, yellowLow: 100, yellowHigh: 160, redHigh: 180 } },
    { id: "bp-dia-band", kind: "band", metric: "bp_dia", limits: { redLow: 50, yellowLow: 60, yellowHigh: 95, redHigh: 110 } },
    { id: "pulse-band", kind: "band", metric: "pulse", limits: { redLow: 40, yellowLow: 50, yellowHigh: 100, redHigh: 120 } },
    { id: "weight-missing", kind: "missing", metric: "weight", daily: { deadline: "12:00", grace: "1h", redAfter: 3 } },
  ],
};

const CGM: Programme = {
  id: "cgm",
  name: "Diabetes, CGM sensor",
  rules: [
    // Nightscout defaults in mmol/L: urgent low < 3.1, low < 4.4 fire at once; a snooze never
    // hides the urgent low (what Nightscout, nightguard and LoopFollow users ask for) ...
    { id: "cgm-low", kind: "band", metric: "cgm", limits: { redLow: 3.1, yellowLow: 4.4 }, modifiers: { clearMargin: 0.2 }, unsilenceable: "red" },
    // ... highs must persist 15 minutes (three 5-minute readings) to cut false alarms.
    { id: "cgm-high", kind: "band", metric: "cgm", limits: { yellowHigh: 10, redHigh: 14.4 }, modifiers: { for: "15m", clearMargin: 0.5 } },
    // Predicted low: the 20-minute linear forecast from the last 15 minutes falls below urgent low.
    { id: "cgm-predicted-low", kind: "rate", metric: "cgm", basis: "forecast", window: "15m", horizon: "20m", limits: { redLow: 3.1 } },
    { id: "cgm-stale", kind: "missing", metric: "cgm", stale: { yellow: "15m", red: "30m" } },
  ],
};

const NIV: Programme = {
  id: "niv",
  name: "Home non-invasive ventilation",
  rules: [
    { id: "niv-usage", kind: "band", metric: "niv_usage", limits: { redLow: 2, yellowLow: 4 } },
    { id: "niv-leak", kind: "band", metric: "niv_leak", limits: { yellowHigh: 24, redHigh: 40 } },
    { id: "niv-ahi", kind: "band", metric: "niv_ahi", limits: { yellowHigh: 5, redHigh: 10 } },
    { id: "tcco2-band", kind: "band", metric: "tcco2", limits: { yellowHigh: 6.5, redHigh: 7.5 } },
    { id: "spo2-t90", kind: "band", metric: "spo2_t90", limits: { yellowHigh: 10, redHigh: 30 } },
    { id: "niv-missing", kind: "missing", metric: "niv_usage", daily: { deadline: "12:00", grace: "2h", redAfter: 3 } },
  ],
};

export const PROGRAMMES: Record<ProgrammeId, Programme> = {
  telekol: TELEKOL,
  telehjerte: TELEHJERTE,
  cgm: CGM,
  niv: NIV,
};

/** The programmes `ids`, each with the rules `rulesOf` says are in force (what effectiveRules merges). */
export function programmeSets(ids: readonly ProgrammeId[], rulesOf: (id: ProgrammeId) => RuleDef[]): Programme[] {
  return ids.map((id) => ({ ...PROGRAMMES[id], rules: rulesOf(id) }));
}

/**
 * The rules that judge a patient: its programmes' rules merged by rule id (engine/rules/merge.ts),
 * then its overrides: same id replaces, a new id adds, `{id, remove: true}` removes.
 */
export function effectiveRules(programmes: readonly Programme[], overrides: (RuleDef | { id: string; remove: true })[] = []): EffectiveRule[] {
  return mergeProgrammes(programmes, overrides);
}

/**
 * A patient's programmes from either form: `programmes` (a list), or the one `programme` of
 * journals, snapshots and clients from before several programmes per patient.
 */
export function programmesOf(config: { programmes?: readonly ProgrammeId[]; programme?: ProgrammeId }): ProgrammeId[] {
  return config.programmes !== undefined ? [...config.programmes] : config.programme !== undefined ? [config.programme] : [];
}

/** Throws `code` unless every id is a known programme, listed once. */
export function checkProgrammes(ids: readonly string[], code: "invalid_body" | "invalid_threshold"): void {
  ids.forEach((id, i) => {
    if (typeof id !== "string" || !Object.hasOwn(PROGRAMMES, id)) throw new VarselError(code, `unknown programme ${String(id)}`, { programme: id });
    if (ids.indexOf(id) !== i) throw new VarselError(code, `programme ${id} is listed twice`, { programme: id });
  });
}
