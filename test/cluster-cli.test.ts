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
    expect(clusterSettings({ role: "engine", nats: "nats://127.0.0.1:4222", partitions: "8", clusterPrefix: "region-h" })).toEqual({
      roles: ["engine"],
      nats: "nats://127.0.0.1:4222",
      prefix: "region-h",
      partitions: 8,
    });
    expect(clusterSettings({ role: "ingest, gateway,engine", nats: "nats://127.0.0.1:4222" })?.roles).toEqual(["ingest", "gateway", "engine"]);
    expect(clusterSettings({ role: "engine,engine", nats: "nats://a:4222,nats://b:4222" })).toEqual({ roles: ["engine"], nats: "nats://a:4222,nats://b:4222", prefix: "varsel", partitions: undefined });
  });

  it.each<[string, ClusterOptionValues, RegExp]>([
    ["cluster options without a role", { nats: "nats://127.0.0.1:4222" }, /go with --role/],
    ["a role without a server", { role: "engine" }, /needs --nats/],
    ["an unknown role", { role: "engine,worker", nats: "nats://127.0.0.1:4222" }, /"worker" is not ingest, engine, gateway/],
    ["a server that is not a nats URL", { role: "engine", nats: "http://127.0.0.1:4222" }, /--nats must be/],
    ["no partitions", { role: "engine", nats: "nats://127.0.0.1:4222", partitions: "0" }, /--partitions/],
    ["a fraction of a partition", { role: "engine", nats: "nats://127.0.0.1:4222", partitions: "2.5" }, /--partitions/],
    ["a prefix with a dot (a subject separator)", { role: "engine", nats: "nats://127.0.0.1:4222", clusterPrefix: "a.b" }, /--cluster-prefix/],
  ])("refuses %s", (_what, options, message) => {
    expect(() => clusterSettings(options)).toThrow(SettingError);
    expect(() => clusterSettings(options)).toThrow(message);
  });
});
