// Versioned threshold sets: who changed what, when and why. A patient's version number goes up
// whenever the rules that judge the patient change — its own overrides or its programme's set —
// so every alert can say which version judged it.
import type { RuleDef } from "./rules/definitions.js";
import { PROGRAMMES, type ProgrammeId } from "./rules/programmes.js";

export type RuleOverride = RuleDef | { id: string; remove: true };

export interface ThresholdVersion {
  version: number;
  author: string;
  at: number;
  reason: string;
  /** Programme sets: the full rule list; patient sets: the overrides. */
  rules: RuleOverride[];
}

export class ThresholdHistory {
  private readonly programmes = new Map<string, ThresholdVersion[]>();
  private readonly patients = new Map<string, ThresholdVersion[]>();

  /** The programme's current rules: the newest version, else the built-in defaults. */
  programmeRules(id: ProgrammeId): RuleDef[] {
    const latest = this.programmes.get(id)?.at(-1);
    return latest !== undefined ? (latest.rules as RuleDef[]) : (PROGRAMMES[id]?.rules ?? []);
  }

  programmeHistory(id: string): ThresholdVersion[] {
    return this.programmes.get(id) ?? [];
  }

  patientHistory(id: string): ThresholdVersion[] {
    return this.patients.get(id) ?? [];
  }

  /** The patient's current overrides (empty when none were set). */
  patientOverrides(id: string): RuleOverride[] {
    return this.patients.get(id)?.at(-1)?.rules ?? [];
  }

  /** Records a new programme version. */
  setProgramme(id: ProgrammeId, rules: RuleDef[], author: string, reason: string, at: number): ThresholdVersion {
    return append(this.programmes, id, { rules, author, reason, at });
  }

  /** Records a new version of a patient's overrides. */
  setPatient(id: string, rules: RuleOverride[], author: string, reason: string, at: number): ThresholdVersion {
    return append(this.patients, id, { rules, author, reason, at });
  }

  /** All versions, as plain data (snapshots). */
  exportState(): { programmes: [string, ThresholdVersion[]][]; patients: [string, ThresholdVersion[]][] } {
    return { programmes: [...this.programmes], patients: [...this.patients] };
  }

  /** Restores `exportState`'s data. */
  importState(state: { programmes: [string, ThresholdVersion[]][]; patients: [string, ThresholdVersion[]][] }): void {
    this.programmes.clear();
    this.patients.clear();
    for (const [id, versions] of state.programmes) this.programmes.set(id, versions);
    for (const [id, versions] of state.patients) this.patients.set(id, versions);
  }

  /** Restores history (from a store). */
  load(kind: "programme" | "patient", id: string, versions: ThresholdVersion[]): void {
    (kind === "programme" ? this.programmes : this.patients).set(id, [...versions]);
  }
}

function append(map: Map<string, ThresholdVersion[]>, id: string, entry: Omit<ThresholdVersion, "version">): ThresholdVersion {
  const list = map.get(id) ?? [];
  const version = { version: list.length + 1, ...entry };
  map.set(id, [...list, version]);
  return version;
}
