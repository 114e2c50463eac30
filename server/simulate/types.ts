// What the simulator's parts hand each other.
import type { ProgrammeId } from "../../engine/rules/programmes.js";
import type { Random } from "./random.js";

export type { ProgrammeId };
export const PROGRAMME_IDS: readonly ProgrammeId[] = ["telekol", "telehjerte", "cgm", "niv"];

/** One simulated patient: who, in which programme, and what will happen to them. */
export interface SimPatient {
  id: string;
  programme: ProgrammeId;
  teams: string[];
  /** Has an episode in the window: COPD exacerbation, fluid retention, nightly hypoglycaemia, hypercapnia. */
  deteriorates: boolean;
  /** The home gateway loses its connection now and then and uploads the buffered hours later. */
  flakyGateway: boolean;
  /** The patient's own stream, untouched: clone it to draw (so the same patient always gives the same readings). */
  random: Random;
}

/** The simulated span; `to` is Infinity when the simulation follows real time after it. */
export interface Window {
  from: number;
  to: number;
}

/** A measurement as taken at home, in the metric's canonical unit. */
export interface Measurement {
  metric: string;
  value: number;
  time: number;
}

/** A measurement with the time its gateway uploads it (≥ time; hours later after an outage). */
export interface Upload extends Measurement {
  uploadAt: number;
}

/** A programme's physiology: the patient's measurements from `window.from` on, in time order, without end. */
export type Physiology = (patient: SimPatient, random: Random, window: Window) => Generator<Measurement>;

/** A reading as POST /v1/measurements takes it. */
export interface WireReading {
  patient: string;
  metric: string;
  value: number;
  time: number;
  id: string;
}

/** What became of one batch: the ingest answer's counts, or the code that refused it whole. */
export interface IngestResult {
  accepted: number;
  duplicates: number;
  /** Readings refused, by catalogued code (item rejections, and every item of a batch refused whole). */
  rejected: Record<string, number>;
  /** Times the batch was resent after `overloaded`, `rate_limited`, another 503 or a network error, by code. */
  retried: Record<string, number>;
  /** Alert transitions the batch caused. */
  transitions: number;
}

/** Where the simulator sends: the HTTP API, or the engine in the same process (the demo). */
export interface Target {
  register(patient: SimPatient): Promise<void>;
  ingest(readings: WireReading[]): Promise<IngestResult>;
}
