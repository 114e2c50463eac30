// Event numbers and resume (FHIR subscriptions backport): strictly increasing numbers with no
// gaps, `since` returns exactly the missed events in a subscriber's scope, `resync_required`
// beyond the retention window; review events for readings that need a clinician's eye.
import { describe, expect, it } from "vitest";
import { DurablePipeline } from "../engine/durable/durable-pipeline.js";
import type { AlertTransition } from "../engine/engine.js";
import { admits, scopeFilter } from "../engine/lifecycle/event-log.js";
import { AlertLifecycle, type LifecycleEvent, type LifecycleOptions, type ReviewEvent, type Scope } from "../engine/lifecycle/index.js";
import { Pipeline } from "../engine/pipeline.js";
import { ANY_SENDER, ingestRaw, readingsCommand } from "./support/ingest.js";

const T0 = Date.UTC(2026, 0, 14, 9, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

function tr(patient: string, rule: string, kind: AlertTransition["kind"], to: AlertTransition["to"], from: AlertTransition["from"] = "none"): AlertTransition {
  return {
    patient, rule, metric: "pulse", kind, from, to, direction: "high", time: T0, value: 1,
    priority: to === "red" || from === "red" ? "high" : "medium", interpretation: to === "red" ? "HH" : to === "yellow" ? "H" : "N",
  };
}

/** Three patients in two teams: p1 and p2 with team-a, p3 with team-b. `events()`: every event the calls returned so far (takeEvents). */
function world(options: Partial<LifecycleOptions> = {}) {
  const lc = new AlertLifecycle({ rules: () => ({ kind: "band" }), latching: {}, ...options });
  lc.setPatient("p1", { careTeams: [{ team: "team-a", role: "hospital" }] }, T0);
  lc.setPatient("p2", { careTeams: [{ team: "team-a", role: "hospital" }, { team: "gp-2", role: "gp" }] }, T0);
  lc.setPatient("p3", { careTeams: [{ team: "team-b", role: "municipality" }] }, T0);
  const seen: LifecycleEvent[] = [];
  const events = () => {
    seen.push(...lc.takeEvents());
    return seen;
  };
  return { lc, events };
}

/** A mixed stream: raises, updates, acks, silences, resolves across three patients. */
function churn(lc: AlertLifecycle, at: number): void {
  lc.apply([tr("p1", "r1", "raise", "yellow"), tr("p2", "r1", "raise", "red"), tr("p3", "r1", "raise", "yellow")], at);
  lc.apply([tr("p1", "r1", "upgrade", "red", "yellow")], at + 1);
  const s = lc.addSilence({ patient: "p3", until: at + HOUR, reason: "r", author: "a" }, at + 2);
  lc.ack(lc.list({ patient: "p2", state: "firing" })[0].id, "nurse", undefined, at + 3);
  lc.removeSilence(s.id, "a", at + 4);
  lc.apply([tr("p1", "r1", "resolve", "none", "red"), tr("p2", "r1", "resolve", "none", "red"), tr("p3", "r1", "resolve", "none", "yellow")], at + 5);
}

describe("lifecycle: event numbers", () => {
  it("numbers every event 1, 2, 3 ... with no gaps, in the order the calls return them", () => {
    const { lc, events: take } = world();
    churn(lc, T0);
    const events = take();
    expect(events.length).toBeGreaterThan(10);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(lc.lastSeq()).toBe(events.length);
    const all = lc.since(0);
    expect(all.status === "ok" && all.events).toEqual(events);
  });

  it("continues from a stored number after a restart", () => {
    const { lc, events } = world({ startSeq: 41 });
    expect(lc.lastSeq()).toBe(41);
    expect(lc.since(41)).toEqual({ status: "ok", events: [], lastSeq: 41 });
    lc.apply([tr("p1", "r1", "raise", "yellow")], T0);
    expect(events().map((e) => e.seq)).toEqual([42]);
    expect(lc.since(40).status).toBe("resync_required");
  });

  it("events are frozen copies: whoever receives one cannot change the alert", () => {
    const { lc, events } = world();
    lc.apply([tr("p1", "r1", "raise", "yellow")], T0);
    const e = events()[0];
    expect(Object.isFrozen(e)).toBe(true);
    expect(() => {
      if (e.type === "raised") (e.alert as { level: string }).level = "red";
    }).toThrow(TypeError);
    expect(lc.list()[0].level).toBe("yellow");
  });

  it("a call returns exactly the events it caused, numbered and logged, each once", () => {
    const lc = new AlertLifecycle({ rules: () => undefined, latching: {} });
    expect(lc.takeEvents()).toEqual([]);
    lc.apply([tr("p1", "r1", "raise", "yellow"), tr("p1", "r1", "upgrade", "red", "yellow")], T0);
    const first = lc.takeEvents();
    expect(first.map((e) => [e.seq, e.type])).toEqual([
      [1, "raised"],
      [2, "updated"],
    ]);
    expect(lc.takeEvents()).toEqual([]); // taken once
    lc.apply([tr("p1", "r1", "resolve", "none", "red")], T0 + MIN);
    const second = lc.takeEvents();
    expect(second.map((e) => [e.seq, e.type])).toEqual([[3, "resolved"]]);
    // the log holds the same events (what a store keeps and a subscriber resumes from)
    const logged = lc.since(0);
    expect(logged.status === "ok" && logged.events).toEqual([...first, ...second]);
    // a refused call causes none
    expect(() => lc.ack("a-404", "nurse", undefined, T0 + 2 * MIN)).toThrow();
    expect(lc.takeEvents()).toEqual([]);
  });

  it("a throwing subscriber (DurablePipeline.onEvent) neither loses the event for others nor fails the command", async () => {
    const errors: unknown[] = [];
    const d = DurablePipeline.inMemory({ now: () => T0, onError: (e) => errors.push(e) });
    const seen: number[] = [];
    d.onEvent(() => {
      throw new Error("socket closed");
    });
    d.onEvent((e) => seen.push(e.seq));
    const careTeams = [{ team: "team-a", role: "hospital" as const }];
    await d.execute({ kind: "patient", id: "p1", input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
    await d.execute({ kind: "patient", id: "p2", input: { programme: "telehjerte", careTeams, paused: false, references: {} } });
    const answer = await d.execute(readingsCommand([{ patient: "p1", metric: "pulse", value: 105, time: T0 }, { patient: "p2", metric: "pulse", value: 105, time: T0 }], T0));
    expect(answer).toMatchObject({ accepted: 2, transitions: 2 });
    expect(seen).toEqual([1, 2]);
    expect(errors).toHaveLength(2);
  });
});

describe("lifecycle: since and scope", () => {
  it("returns exactly the events after seq, filtered by patient set and by team set", () => {
    const { lc, events: take } = world();
    churn(lc, T0);
    const events = take();
    const cut = 4;
    const after = events.filter((e) => e.seq > cut);
    const byPatients = lc.since(cut, { patients: ["p3"] });
    expect(byPatients.status === "ok" && byPatients.events.map((e) => e.seq)).toEqual(after.filter((e) => e.patient === "p3").map((e) => e.seq));
    const byTeam = lc.since(cut, { teams: ["team-a"] });
    expect(byTeam.status === "ok" && byTeam.events.map((e) => e.seq)).toEqual(after.filter((e) => e.patient === "p1" || e.patient === "p2").map((e) => e.seq));
    const gp = lc.since(cut, { teams: ["gp-2"] });
    expect(gp.status === "ok" && [...new Set(gp.events.map((e) => e.patient))]).toEqual(["p2"]);
    const bothScopes = lc.since(0, { teams: ["team-a"], patients: ["p2", "p3"] });
    expect(bothScopes.status === "ok" && [...new Set(bothScopes.events.map((e) => e.patient))]).toEqual(["p2"]);
    expect(byTeam.status === "ok" && byTeam.lastSeq).toBe(events.length);
  });

  it("a subscriber that reconnects gets the missed events and continues without gap or duplicate", () => {
    const { lc } = world();
    const scope: Scope = { teams: ["team-a"] };
    const received: LifecycleEvent[] = [];
    // Live delivery as the durable layer does it: each call's returned events, to the subscribers whose scope admits them.
    let connected = true;
    const apply = (transitions: AlertTransition[], now: number) => {
      lc.apply(transitions, now);
      const filter = scopeFilter(scope);
      for (const e of lc.takeEvents()) if (connected && admits(filter, e.patient, e.teams)) received.push(e);
    };
    apply([tr("p1", "r1", "raise", "yellow"), tr("p3", "r1", "raise", "yellow")], T0);
    connected = false; // connection lost
    const cursor = received.at(-1)!.seq;
    apply([tr("p1", "r1", "upgrade", "red", "yellow"), tr("p2", "r1", "raise", "yellow"), tr("p3", "r1", "upgrade", "red", "yellow")], T0 + MIN);
    const missed = lc.since(cursor, scope);
    if (missed.status !== "ok") throw new Error("expected events");
    received.push(...missed.events);
    connected = true;
    apply([tr("p2", "r1", "resolve", "none", "yellow")], T0 + 2 * MIN);
    const full = lc.since(0, scope);
    expect(full.status === "ok" && full.events).toEqual(received);
    expect(received.every((e) => e.patient !== "p3")).toBe(true);
  });

  it("answers resync_required when seq is older than the retained window (count), or in the future", () => {
    const { lc, events: take } = world({ retention: { maxEvents: 3 } });
    churn(lc, T0);
    const events = take();
    const last = events.length;
    expect(lc.since(last - 3)).toEqual({ status: "ok", events: events.slice(-3), lastSeq: last });
    const tooOld = lc.since(last - 4);
    expect(tooOld).toMatchObject({ status: "resync_required", lastSeq: last, oldestSeq: last - 2, error: { code: "resync_required" } });
    expect(lc.since(last + 1).status).toBe("resync_required");
  });

  it("drops events older than the age limit on tick", () => {
    const { lc } = world({ retention: { maxAgeMs: HOUR } });
    lc.apply([tr("p1", "r1", "raise", "yellow")], T0);
    lc.apply([tr("p2", "r1", "raise", "yellow")], T0 + 30 * MIN);
    lc.tick(T0 + HOUR);
    expect(lc.since(0).status).toBe("ok");
    lc.tick(T0 + HOUR + 1);
    expect(lc.since(0).status).toBe("resync_required");
    const rest = lc.since(1);
    expect(rest.status === "ok" && rest.events.map((e) => e.seq)).toEqual([2]);
  });

  it("snapshot gives the open alerts in scope and the seq to continue from", () => {
    const { lc } = world();
    lc.apply([tr("p1", "r1", "raise", "yellow"), tr("p2", "r1", "raise", "yellow"), tr("p3", "r1", "raise", "red")], T0);
    lc.apply([tr("p2", "r1", "resolve", "none", "yellow")], T0 + MIN);
    const snap = lc.snapshot({ teams: ["team-a"] });
    expect(snap.alerts.map((a) => a.patient)).toEqual(["p1"]);
    expect(snap.seq).toBe(lc.lastSeq());
    expect(lc.snapshot().alerts.map((a) => a.patient)).toEqual(["p1", "p3"]);
    lc.apply([tr("p1", "r1", "upgrade", "red", "yellow")], T0 + 2 * MIN);
    const next = lc.since(snap.seq, { teams: ["team-a"] });
    expect(next.status === "ok" && next.events.map((e) => e.type)).toEqual(["updated"]);
  });

  it("list filters by state, priority, level and update time", () => {
    const { lc } = world();
    lc.apply([tr("p1", "r1", "raise", "yellow"), tr("p2", "r1", "raise", "red"), tr("p3", "r1", "raise", "yellow")], T0);
    lc.apply([tr("p3", "r1", "resolve", "none", "yellow")], T0 + MIN);
    expect(lc.list({ state: "firing" }).map((a) => a.patient)).toEqual(["p1", "p2"]);
    expect(lc.list({ priority: "high" }).map((a) => a.patient)).toEqual(["p2"]);
    expect(lc.list({ level: ["yellow"], state: ["resolved"] }).map((a) => a.patient)).toEqual(["p3"]);
    expect(lc.list({ since: T0 + MIN }).map((a) => a.patient)).toEqual(["p3"]);
  });

  it("forgets resolved alerts after their retention", () => {
    const { lc } = world({ retention: { resolvedAlertMs: HOUR } });
    lc.apply([tr("p1", "r1", "raise", "yellow")], T0);
    lc.apply([tr("p1", "r1", "resolve", "none", "yellow")], T0 + MIN);
    const id = lc.list()[0].id;
    lc.tick(T0 + MIN + HOUR);
    expect(lc.get(id).state).toBe("resolved");
    lc.tick(T0 + MIN + HOUR + 1);
    expect(lc.list()).toEqual([]);
  });

  it("holds at most resolvedAlertsPerPatient resolved alerts per patient, the most recent, the same after a restore", () => {
    const cap = 3;
    const { lc } = world({ retention: { resolvedAlertsPerPatient: cap } });
    const flap = (l: AlertLifecycle, patient: string, at: number) => {
      l.apply([tr(patient, "r1", "raise", "yellow")], at);
      l.apply([tr(patient, "r1", "resolve", "none", "yellow")], at + 1);
    };
    for (let i = 0; i < 5; i++) flap(lc, "p1", T0 + i * MIN);
    flap(lc, "p2", T0);
    lc.apply([tr("p1", "r1", "raise", "yellow")], T0 + 10 * MIN);
    const resolvedOf = (l: AlertLifecycle, patient: string) => l.list({ state: "resolved" }).filter((a) => a.patient === patient).map((a) => a.resolvedAt);
    expect(resolvedOf(lc, "p1")).toEqual([2, 3, 4].map((i) => T0 + i * MIN + 1));
    expect(resolvedOf(lc, "p2")).toEqual([T0 + 1]);
    expect(lc.list({ state: "firing" }).map((a) => a.patient)).toEqual(["p1"]);
    // A lifecycle restored from a snapshot forgets the same one next.
    const restored = world({ retention: { resolvedAlertsPerPatient: cap } }).lc;
    restored.importState(structuredClone(lc.exportState()));
    for (const l of [lc, restored]) l.apply([tr("p1", "r1", "resolve", "none", "yellow")], T0 + 11 * MIN);
    expect(resolvedOf(restored, "p1")).toEqual(resolvedOf(lc, "p1"));
    expect(resolvedOf(lc, "p1")).toEqual([T0 + 3 * MIN + 1, T0 + 4 * MIN + 1, T0 + 11 * MIN]);
    expect(() => world({ retention: { resolvedAlertsPerPatient: 0 } })).toThrow(RangeError);
  });

  it("shows an alert forgotten by a change not yet durable as it was at the durable event (list, snapshot)", () => {
    const cap = 2;
    const { lc } = world({ retention: { resolvedAlertsPerPatient: cap } });
    lc.apply([tr("p1", "r1", "raise", "yellow")], T0);
    const firing = lc.list({ state: "firing" });
    expect(firing.map((a) => a.patient)).toEqual(["p1"]);
    const durable = lc.lastSeq(); // the last event committed; what follows is one group commit ahead
    const atDurable = lc.list({}, durable);
    // One request that flaps: resolves the alert, then raises and resolves `cap` more (it is forgotten).
    const flaps = [tr("p1", "r1", "resolve", "none", "yellow")];
    lc.apply(flaps, T0 + 1);
    for (let i = 0; i < cap; i++) {
      lc.apply([tr("p1", "r1", "raise", "yellow")], T0 + 2 + 2 * i);
      lc.apply([tr("p1", "r1", "resolve", "none", "yellow")], T0 + 3 + 2 * i);
    }
    expect(lc.list().some((a) => a.id === firing[0].id)).toBe(false); // forgotten now
    // As of the durable event the alert was firing: a restart there would show it, so must these.
    expect(lc.list({}, durable)).toEqual(atDurable);
    expect(lc.snapshot({}, durable).alerts).toEqual(firing);
  });
});

describe("lifecycle: review events", () => {
  it("surfaces not_triaged, reference_needed and unit_mismatch of known patients, with no values", () => {
    const p = new Pipeline();
    p.upsertPatient("p1", { programme: "telehjerte", careTeams: [{ team: "team-a", role: "hospital" }], paused: false, references: {} }, T0 - HOUR);
    p.upsertPatient("k1", { programme: "telekol", careTeams: [{ team: "team-k", role: "hospital" }], paused: false, references: {} }, T0 - HOUR);
    p.setPatientThresholds("k1", [{ id: "spo2-drop", remove: true }, { id: "spo2-ref", kind: "baseline", metric: "spo2", mode: "points", limits: { redLow: -5, yellowLow: -3 } }], "dr", "test", T0 - HOUR);
    const lc = p.lifecycle;
    lc.takeEvents();
    const items = [
      { patient: "p1", metric: "temp", value: 38.5, time: T0 - 2000 },
      { patient: "p1", metric: "temp", value: 38.6, time: T0 - 1000 },
      { patient: "p1", metric: "weight", value: 80, unit: "stone", time: T0 },
      { patient: "k1", metric: "spo2", value: 93, time: T0 },
      { patient: "nobody", metric: "weight", value: 80, unit: "stone", time: T0 },
      { patient: "p1", metric: "pulse", value: 70, time: T0 },
      { patient: "p1", metric: "http://loinc.org|29463-7", value: 80, unit: "pound", time: T0 },
    ];
    const answer = ingestRaw(p, items, ANY_SENDER, T0);
    expect(answer.readings.map((r) => r.triage)).toEqual(["not_triaged", "not_triaged", "reference_needed", "N"]);
    const events = lc.takeEvents();
    const reviews = events.filter((e): e is ReviewEvent => e.type === "review");
    expect(reviews.map(({ patient, reason, metric, count }) => ({ patient, reason, metric, count }))).toEqual([
      { patient: "p1", reason: "not_triaged", metric: "temp", count: 2 },
      { patient: "k1", reason: "reference_needed", metric: "spo2", count: 1 },
      { patient: "p1", reason: "unit_mismatch", metric: "weight", count: 2 },
    ]);
    expect(Object.keys(reviews[0]).sort()).toEqual(["at", "count", "metric", "patient", "reason", "seq", "teams", "type"]);
    expect(reviews[0].teams).toEqual(["team-a"]);
    const forTeamK = lc.since(0, { teams: ["team-k"] });
    expect(forTeamK.status === "ok" && forTeamK.events.map((e) => e.type === "review" && e.reason)).toEqual(["reference_needed"]);
    expect(lc.snapshot().alerts).toEqual([]);
  });

  it("a unit failure nobody attributed to a patient is not invented", () => {
    const lc = new AlertLifecycle({ rules: () => undefined });
    lc.setPatient("p1", { careTeams: [] }, T0);
    lc.ingest({ readings: [], rejected: [{ index: 0, code: "unit_mismatch", message: "stone is not a unit of weight" }], transitions: [] }, T0);
    expect(lc.lastSeq()).toBe(0);
    expect(lc.takeEvents()).toEqual([]);
  });

  it("an attribute function names the patient and metric of a rejection (as the pipeline gives it from the canonical batch)", () => {
    const lc = new AlertLifecycle({ rules: () => undefined });
    lc.setPatient("p1", { careTeams: [] }, T0);
    const rejected = [{ index: 0, code: "unit_mismatch" as const, message: "stone is not a unit of weight" }];
    lc.ingest({ readings: [], rejected, transitions: [] }, T0, { attribute: (r) => (r.index === 0 ? { patient: "p1", metric: "NPU03804" } : undefined) });
    expect(lc.takeEvents().map((e) => e.type === "review" && [e.patient, e.metric, e.reason])).toEqual([["p1", "weight", "unit_mismatch"]]);
  });
});
