// The hub's subscriber index: an event is offered to every session whose scope may admit it
// (checked against the plain filter on random scopes), each once, and re-scoping or
// unsubscribing leaves nothing behind.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admits, scopeFilter } from "../engine/lifecycle/event-log.js";
import { SubscriberIndex } from "../server/ws/subscribers.js";

const TEAMS = ["a", "b", "c", "d"];
const PATIENTS = ["p1", "p2", "p3"];
const scope = fc.record({ patients: fc.option(fc.subarray(PATIENTS), { nil: undefined }), teams: fc.option(fc.subarray(TEAMS), { nil: undefined }) });

describe("subscriber index", () => {
  it("offers an event to a superset of its recipients, each once, after any re-scoping", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(5), fc.option(scope, { nil: undefined })), { maxLength: 30 }),
        fc.option(fc.constantFrom(...PATIENTS), { nil: undefined }),
        fc.subarray(TEAMS),
        (changes, patient, teams) => {
          const index = new SubscriberIndex<number>();
          const current = new Map<number, ReturnType<typeof scopeFilter>>();
          for (const [session, s] of changes) {
            const filter = s === undefined ? undefined : scopeFilter(s);
            index.set(session, filter);
            if (filter === undefined) current.delete(session);
            else current.set(session, filter);
          }
          const offered = [...index.candidates(patient, teams)];
          expect(new Set(offered).size).toBe(offered.length);
          const recipients = [...current].filter(([, f]) => admits(f, patient, teams)).map(([s]) => s);
          for (const r of recipients) expect(offered).toContain(r);
          for (const s of offered) expect(current.has(s)).toBe(true);
          expect(index.size).toBe(current.size);
          expect([...index.all()].sort()).toEqual([...current.keys()].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it("does not offer a team's event to another team's subscribers", () => {
    const index = new SubscriberIndex<string>();
    index.set("team-a", scopeFilter({ teams: ["a"] }));
    index.set("team-b", scopeFilter({ teams: ["b"] }));
    index.set("admin", scopeFilter({}));
    index.set("p9 only", scopeFilter({ patients: ["p9"] }));
    expect([...index.candidates("p1", ["a"])].sort()).toEqual(["admin", "team-a"]);
  });
});
