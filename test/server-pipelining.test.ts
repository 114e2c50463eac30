// A socket's commands (ingest, ack) on a real store whose commits the test can hold, on both
// transports: applied without waiting for each other's commit but answered in message order and
// only once durable; bounded in number; a socket closed meanwhile leaves nothing behind; a
// group commit's answers, however large, do not make a prompt reader a slow consumer.
import { afterAll, describe, expect, it } from "vitest";
import { MAX_COMMANDS_IN_FLIGHT } from "../server/ws/session.js";
import { removeFlakyStores, serverOnFlakyStore } from "./support/flaky-store.js";
import { TRANSPORTS } from "./support/server.js";
import { TestSocket } from "./support/ws-client.js";

afterAll(removeFlakyStores);

const PATIENT = { programme: "telehjerte", careTeams: [{ team: "t", role: "hospital" }] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean, ms = 2000): Promise<void> {
  for (let waited = 0; !ok() && waited < ms; waited += 10) await sleep(10);
}

describe.each(TRANSPORTS)("a socket's commands on %s", (transport) => {
  async function setup(name: string, options: Parameters<typeof serverOnFlakyStore>[2] = {}) {
    const h = await serverOnFlakyStore(`${name}-${transport}.db`, transport, options);
    expect((await h.send("/v1/patients/p1", PATIENT, "PUT")).status).toBe(200);
    let release = () => {};
    const hold = () => (h.flaky.hold = new Promise<void>((r) => (release = r)));
    const device = () => h.server.auth.sign({ sub: "gw", role: "device", teams: ["t"] });
    return { ...h, hold, release: () => release(), device };
  }

  it("are applied without waiting for the previous commit, and answered in order once durable", async () => {
    const h = await setup("pipelined");
    const gw = await TestSocket.connect(h.wsUrl, await h.device());
    try {
      const before = h.server.durable.position();
      h.hold();
      const t = Date.now();
      gw.send({ type: "ingest", id: "a", readings: [{ patient: "p1", metric: "pulse", value: 70, time: t }] });
      gw.send({ type: "ingest", id: "b", readings: [{ patient: "p1", metric: "pulse", value: 71, time: t + 1 }] });
      gw.send({ type: "ingest", id: "c", readings: "not a list" });
      gw.send({ type: "ping", id: "d" });
      // Both frames are applied while the first commit is held (one at a time, b would wait for a's commit).
      await until(() => h.server.durable.position() >= before + 2);
      expect(h.server.durable.position()).toBe(before + 2);
      expect(gw.frames.filter((f) => f.type !== "authenticated")).toEqual([]); // nothing answered before it is durable

      h.release();
      await gw.next((f) => f.id === "d");
      const order = gw.frames.filter((f) => f.type !== "authenticated").map((f) => `${f.type}:${f.id}`);
      expect(order).toEqual(["ingest_result:a", "ingest_result:b", "error:c", "pong:d"]);
    } finally {
      h.release();
      gw.close();
      await h.server.close();
    }
  });

  it("are bounded: at most MAX_COMMANDS_IN_FLIGHT admitted ahead of the store, the rest wait and are all answered", async () => {
    const h = await setup("bounded");
    const gw = await TestSocket.connect(h.wsUrl, await h.device());
    try {
      const before = h.server.durable.position();
      h.hold();
      const frames = MAX_COMMANDS_IN_FLIGHT + 20;
      const t = Date.now();
      for (let k = 0; k < frames; k++) gw.send({ type: "ingest", id: `f${k}`, readings: [{ patient: "p1", metric: "pulse", value: 70, time: t + k }] });
      // Admitted: queued for the engine or applied and waiting for the held commit (one reading each).
      await until(() => h.server.durable.uncommitted().readings >= frames, 500); // it must not get there
      expect(h.server.durable.uncommitted().readings).toBe(MAX_COMMANDS_IN_FLIGHT);

      h.release();
      await gw.next((f) => f.id === `f${frames - 1}`);
      expect(gw.frames.filter((f) => f.type === "ingest_result").map((f) => f.id)).toEqual(Array.from({ length: frames }, (_, k) => `f${k}`));
      expect(h.server.durable.position() - before).toBe(frames);
    } finally {
      h.release();
      gw.close();
      await h.server.close();
    }
  });

  it("a socket that closes while its answers are pending leaves no subscription and no client behind", async () => {
    const h = await setup("closed");
    const nurse = await h.server.auth.sign({ sub: "nurse", role: "clinician", teams: ["t"] });
    const admin = await h.server.auth.sign({ sub: "admin", role: "admin", teams: [] });
    try {
      h.hold();
      const s = await TestSocket.connect(h.wsUrl, admin);
      s.send({ type: "ingest", id: "a", readings: [{ patient: "p1", metric: "pulse", value: 70, time: Date.now() }] });
      s.send({ type: "subscribe", id: "after-the-ingest" }); // waits for the ingest's answer
      await sleep(50);
      s.ws.terminate();
      await s.closed;
      await sleep(50);
      h.release();
      await sleep(100);
      expect(await h.metric("varsel_ws_subscriptions")).toBe(0);

      // The live subscriptions still get events, and the gauge counts only them.
      const live = await TestSocket.connect(h.wsUrl, nurse);
      live.send({ type: "subscribe" });
      await live.next((f) => f.type === "snapshot");
      expect(await h.metric("varsel_ws_subscriptions")).toBe(1);
      live.close();
    } finally {
      h.release();
      await h.server.close();
    }
  });

  it("a prompt reader is not taken for a slow consumer when one commit releases several large answers", async () => {
    // 32 000 readings of one sender held uncommitted: more than its default share of the backlog.
    const h = await setup("large-answers", { backlog: { maxReadingsPerSender: 100_000 } });
    const gw = await TestSocket.connect(h.wsUrl, await h.device());
    try {
      h.hold();
      const frames = 4;
      const n = 8000; // full answers of ≈ 360 kB each: together more than the 1 MiB buffer limit
      const t0 = Date.now() - 10 * 60_000;
      for (let k = 0; k < frames; k++) {
        const readings = Array.from({ length: n }, (_, i) => ({ patient: "p1", metric: "pulse", value: 70, time: t0 + k * n + i }));
        gw.send({ type: "ingest", id: `f${k}`, answer: "full", readings });
      }
      await until(() => h.server.durable.position() > 0 && gw.frames.length > 0, 300);
      await sleep(500);
      h.release();
      const last = await gw.next((f) => f.id === `f${frames - 1}` || f.type === "error", 20_000);
      expect(last).toMatchObject({ type: "ingest_result", accepted: n });
      expect(gw.frames.filter((f) => f.type === "ingest_result")).toHaveLength(frames);
    } finally {
      h.release();
      gw.close();
      await h.server.close();
    }
  });

  it("a device authenticated by its subprotocol token is counted by its role", async () => {
    const h = await setup("gauge");
    const gw = await TestSocket.connect(h.wsUrl, await h.device());
    try {
      expect(await h.metric('varsel_ws_clients{role="device"}')).toBe(1);
      expect((await h.metric('varsel_ws_clients{role="unauthenticated"}')) ?? 0).toBe(0);
      gw.close();
      for (let i = 0; i < 100 && (await h.metric('varsel_ws_clients{role="device"}')) !== 0; i++) await sleep(20);
      expect(await h.metric('varsel_ws_clients{role="device"}')).toBe(0);
    } finally {
      gw.close();
      await h.server.close();
    }
  });
});
