// `varsel serve --role ... --nats ...` settings (server/cli/roles.ts): without --role the single
// process runs as before; an incomplete setting or an unknown role is a setting error (one line, exit 2).
import { describe, expect, it } from "vitest";
import { clusterSettings, type ClusterOptionValues } from "../server/cli/roles.js";
import { SettingError } from "../server/cli/settings.js";

describe("cluster roles on serve", () => {
  it("no --role: the single process (undefined)", () => {
    expect(clusterSettings({})).toBeUndefined();
  });

  it("an engine with its server, prefix and partitions", () => {
    expect(clusterSettings({ role: "engine", nats: "nats://127.0.0.1:4222", partitions: "8", clusterPrefix: "region-h" }, {})).toEqual({
      roles: ["engine"],
      nats: "nats://127.0.0.1:4222",
      prefix: "region-h",
      partitions: 8,
      leaseMs: 2_000,
      scanMs: 400,
    });
    expect(clusterSettings({ role: "ingest, gateway,engine", nats: "nats://127.0.0.1:4222" })?.roles).toEqual(["ingest", "gateway", "engine"]);
    expect(clusterSettings({ role: "engine,engine", nats: "nats://a:4222,nats://b:4222" }, {})).toEqual({ roles: ["engine"], nats: "nats://a:4222,nats://b:4222", prefix: "varsel", partitions: undefined, leaseMs: 2_000, scanMs: 400 });
  });

  it.each<[string, ClusterOptionValues, NodeJS.ProcessEnv, { leaseMs: number; scanMs: number }]>([
    ["the defaults", {}, {}, { leaseMs: 2_000, scanMs: 400 }],
    ["a lease from the environment, its scan a fifth of it", {}, { VARSEL_CLUSTER_LEASE: "3s" }, { leaseMs: 3_000, scanMs: 600 }],
    ["both from the environment", {}, { VARSEL_CLUSTER_LEASE: "1.5s", VARSEL_CLUSTER_SCAN: "0.25s" }, { leaseMs: 1_500, scanMs: 250 }],
    ["the options win over the environment", { clusterLease: "4s", clusterScan: "1s" }, { VARSEL_CLUSTER_LEASE: "3s", VARSEL_CLUSTER_SCAN: "0.5s" }, { leaseMs: 4_000, scanMs: 1_000 }],
  ])("lease and scan: %s", (_what, options, env, expected) => {
    expect(clusterSettings({ role: "engine", nats: "nats://127.0.0.1:4222", ...options }, env)).toMatchObject(expected);
  });

  it.each<[string, ClusterOptionValues, RegExp]>([
    ["cluster options without a role", { nats: "nats://127.0.0.1:4222" }, /go with --role/],
    ["a role without a server", { role: "engine" }, /needs --nats/],
    ["an unknown role", { role: "engine,worker", nats: "nats://127.0.0.1:4222" }, /"worker" is not ingest, engine, gateway/],
    ["a server that is not a nats URL", { role: "engine", nats: "http://127.0.0.1:4222" }, /--nats must be/],
    ["no partitions", { role: "engine", nats: "nats://127.0.0.1:4222", partitions: "0" }, /--partitions/],
    ["a fraction of a partition", { role: "engine", nats: "nats://127.0.0.1:4222", partitions: "2.5" }, /--partitions/],
    ["a prefix with a dot (a subject separator)", { role: "engine", nats: "nats://127.0.0.1:4222", clusterPrefix: "a.b" }, /--cluster-prefix/],
    ["a lease option without a role", { clusterLease: "2s" }, /go with --role/],
    ["a lease under a second", { role: "engine", nats: "nats://127.0.0.1:4222", clusterLease: "0.5s" }, /--cluster-lease must be at least 1s/],
    ["a lease that is not a duration", { role: "engine", nats: "nats://127.0.0.1:4222", clusterLease: "2000" }, /--cluster-lease must be a duration/],
    ["a scan longer than a third of the lease", { role: "engine", nats: "nats://127.0.0.1:4222", clusterLease: "2s", clusterScan: "1s" }, /--cluster-scan: a scan is more than 0 and at most a third of the lease/],
  ])("refuses %s", (_what, options, message) => {
    expect(() => clusterSettings(options, {})).toThrow(SettingError);
    expect(() => clusterSettings(options, {})).toThrow(message);
  });

  it("refuses a bad lease from the environment, naming the variable", () => {
    expect(() => clusterSettings({ role: "engine", nats: "nats://127.0.0.1:4222" }, { VARSEL_CLUSTER_SCAN: "3s" })).toThrow(/VARSEL_CLUSTER_SCAN: a scan is/);
    expect(() => clusterSettings({ role: "engine", nats: "nats://127.0.0.1:4222" }, { VARSEL_CLUSTER_LEASE: "10m", VARSEL_CLUSTER_SCAN: "0s" })).toThrow(/VARSEL_CLUSTER_SCAN must be at least a millisecond/);
  });
});
