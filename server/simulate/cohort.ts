// The simulated cohort: N patients spread evenly over the chosen programmes, each with its care
// teams, whether they deteriorate in the window (a quarter of each programme, rounded up, so a
// small run still shows one), whether their gateway is flaky, and their own random stream.
import { Random } from "./random.js";
import { cgm } from "./physiology/cgm.js";
import { niv } from "./physiology/niv.js";
import { telehjerte } from "./physiology/telehjerte.js";
import { telekol } from "./physiology/telekol.js";
import { gateway } from "./gateway.js";
import type { Physiology, ProgrammeId, SimPatient, Upload, Window } from "./types.js";

export const DETERIORATING_SHARE = 0.25;
export const FLAKY_GATEWAY_SHARE = 0.2;

/** Care chains as in the demo, so a demo clinician (hospital-lung, hospital-heart) sees every simulated patient. */
const TEAMS: Record<ProgrammeId, string[]> = {
  telekol: ["hospital-lung", "municipality-aarhus", "gp-1234"],
  telehjerte: ["hospital-heart", "municipality-aarhus", "gp-1234"],
  cgm: ["hospital-diabetes", "gp-1234"],
  niv: ["hospital-lung", "municipality-aarhus"],
};

const SHORT: Record<ProgrammeId, string> = { telekol: "kol", telehjerte: "hjerte", cgm: "cgm", niv: "niv" };

const PHYSIOLOGY: Record<ProgrammeId, Physiology> = { telekol, telehjerte, cgm, niv };

export interface CohortOptions {
  patients: number;
  programmes: readonly ProgrammeId[];
  seed: number;
  /** Patient ids start with it: "<prefix>-kol-0001". */
  prefix: string;
}

export function cohort(o: CohortOptions): SimPatient[] {
  const root = Random.seeded(o.seed);
  const [chooser, ...streams] = root.streams(o.patients + 1);
  const byProgramme = new Map<ProgrammeId, number[]>(o.programmes.map((p) => [p, []]));
  for (let i = 0; i < o.patients; i++) byProgramme.get(o.programmes[i % o.programmes.length])!.push(i);
  const deteriorating = new Set<number>();
  for (const members of byProgramme.values()) {
    for (const i of chooser.shuffled(members).slice(0, Math.ceil(members.length * DETERIORATING_SHARE))) deteriorating.add(i);
  }
  const width = Math.max(4, String(o.patients).length);
  return streams.map((random, i) => {
    const programme = o.programmes[i % o.programmes.length];
    const n = Math.floor(i / o.programmes.length) + 1;
    return {
      id: `${o.prefix}-${SHORT[programme]}-${String(n).padStart(width, "0")}`,
      programme,
      teams: TEAMS[programme],
      deteriorates: deteriorating.has(i),
      flakyGateway: chooser.chance(FLAKY_GATEWAY_SHARE),
      random,
    };
  });
}

/** The patient's uploads from `window.from` on, in upload order, without end; the same every time for the same patient. */
export function uploads(patient: SimPatient, window: Window): Generator<Upload> {
  const random = patient.random.clone();
  const body = random.streams(2);
  return gateway(patient, PHYSIOLOGY[patient.programme](patient, body[0], window), body[1], window.from);
}

/** The patient registration body for PUT /v1/patients/{id}. */
export function registration(patient: SimPatient): { programme: ProgrammeId; careTeams: { team: string; role: "hospital" | "municipality" | "gp" }[] } {
  return { programme: patient.programme, careTeams: patient.teams.map((team) => ({ team, role: roleOf(team) })) };
}

function roleOf(team: string): "hospital" | "municipality" | "gp" {
  return team.startsWith("hospital") ? "hospital" : team.startsWith("municipality") ? "municipality" : "gp";
}
