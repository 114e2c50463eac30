// The event log's retention window (count and age) against a plain list that drops from the
// front, on random streams: same oldest number, same answers to `since`, same export.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admits, EventLog, scopeFilter } from "../engine/lifecycle/event-log.js";
import type { LifecycleEvent } from "../engine/lifecycle/types.js";

describe("event log retention", () => {
  it("keeps exactly the last maxEvents events younger than maxAgeMs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 60 }), fc.nat(70), (maxEvents, gaps, probe) => {
        const maxAgeMs = 50;
        const log = new EventLog(0, maxEvents, maxAgeMs);
        let model: LifecycleEvent[] = [];
        let at = 0;
        for (const gap of gaps) {
          at += gap;
          const event = { type: "review", seq: log.nextSeq(), at, patient: "p", teams: [], reason: "not_triaged", metric: "pulse", count: 1 } as unknown as LifecycleEvent;
          log.append(event);
          model.push(event);
          model = model.slice(-maxEvents).filter((e) => e.at >= at - maxAgeMs);
          expect(log.oldestSeq()).toBe(model.length > 0 ? model[0].seq : event.seq + 1);
          expect(log.exportState().events).toEqual(model);
        }
        const answer = log.since(probe);
        const oldest = model.length > 0 ? model[0].seq : log.lastSeq() + 1;
        if (probe < oldest - 1 || probe > log.lastSeq()) expect(answer.status).toBe("resync_required");
        else expect(answer).toEqual({ status: "ok", events: model.filter((e) => e.seq > probe), lastSeq: log.lastSeq() });
      }),
      { numRuns: 300 },
    );
  });

  it("answers a scoped since from its team index exactly as a filter of the window would, across drops and a restore", () => {
    const teams = ["t1", "t2", "t3"];
    const patients = ["p1", "p2", "p3", undefined];
    const arbEvent = fc.record({ gap: fc.integer({ min: 0, max: 30 }), patient: fc.constantFrom(...patients), teams: fc.subarray(teams) });
    const arbScope = fc.record({ teams: fc.option(fc.subarray(teams), { nil: undefined }), patients: fc.option(fc.subarray(["p1", "p2", "p3"]), { nil: undefined }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120 }), fc.array(arbEvent, { maxLength: 300 }), fc.nat(320), arbScope, fc.boolean(), (maxEvents, stream, probe, scope, restore) => {
        let log = new EventLog(0, maxEvents, 2_000);
        let model: LifecycleEvent[] = [];
        let at = 0;
        for (const { gap, patient, teams: ts } of stream) {
          at += gap;
          // an event about a patient lists its teams (twice, now and then: counted once); org-wide ones list every team
          const event = { type: "review", seq: log.nextSeq(), at, patient, teams: patient === undefined ? teams : [...ts, ...ts.slice(0, 1)], reason: "not_triaged", metric: "pulse", count: 1 } as unknown as LifecycleEvent;
          log.append(event);
          model.push(event);
          model = model.slice(-maxEvents).filter((e) => e.at >= at - 2_000);
        }
        if (restore) {
          const state = log.exportState();
          log = new EventLog(0, maxEvents, 2_000);
          log.importState(state);
        }
        const answer = log.since(probe, scope);
        const oldest = model.length > 0 ? model[0].seq : log.lastSeq() + 1;
        const f = scopeFilter(scope);
        if (probe < oldest - 1 || probe > log.lastSeq()) expect(answer.status).toBe("resync_required");
        else expect(answer).toEqual({ status: "ok", events: model.filter((e) => e.seq > probe && admits(f, e.patient, e.teams)), lastSeq: log.lastSeq() });
      }),
      { numRuns: 300 },
    );
  });
});
