import { Pipeline } from "../../engine/pipeline.js";
for (const N of [10, 50, 64, 65, 100, 200, 1000]) {
const p = new Pipeline();
const now = Date.now();
for (let i = 0; i < N; i++) p.upsertPatient(`p${i}`, { programme: "telehjerte", careTeams: [{ team: `t${i % 10}`, role: "hospital" }], paused: false, references: {} }, now);
const bad: number[] = [];
const items = [];
for (let i = 0; i < N; i++) items.push({ patient: `p${i}`, metric: "pulse", value: 75, time: now });
const a = p.ingest(items, { channel: "x" }, now + 10);
a.readings.forEach((r) => { if (r.triage !== "N") bad.push(r.index); });
const items2 = items.map((x) => ({ ...x, time: now + 1 }));
const b = p.ingest(items2, { channel: "x" }, now + 10);
console.log(N, "first:", bad.length, bad.slice(0, 5), bad.slice(-3), "second:", b.readings.filter((r) => r.triage !== "N").length);
}
