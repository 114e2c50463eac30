// `varsel token`: one HS256 token on stdout, nothing else, signed with VARSEL_JWT_SECRET (or the
// dev-mode secret), for local use and tests. With a JWKS, tokens come from the identity provider.
import { Command, InvalidArgumentError, Option } from "commander";
import { Auth, type Role } from "../auth.js";
import { devSecret, devSecretFile } from "./dev-secret.js";
import { checkSecret, env, SettingError } from "./settings.js";

const DURATION = /^\d+\s*[smhd]$/;

function duration(value: string): string {
  if (!DURATION.test(value)) throw new InvalidArgumentError("a number with s, m, h or d, e.g. 15m, 1h, 8h");
  return value;
}

export function tokenCommand(): Command {
  return new Command("token")
    .description(`print one token signed with VARSEL_JWT_SECRET (or the dev-mode secret in VARSEL_DEV_SECRET_FILE, default .varsel/dev-secret)`)
    .addOption(new Option("--role <role>", "device, clinician or admin").choices(["device", "clinician", "admin"]).makeOptionMandatory())
    .option("--teams <teams>", "comma-separated care teams (required for device and clinician)", "")
    .option("--sub <sub>", "the subject: who (default: the role)")
    .addOption(new Option("--ttl <duration>", "lifetime: 15m, 1h, 8h, 7d").argParser(duration).default("1h"))
    .addOption(new Option("--expires <duration>", "the same as --ttl").argParser(duration).hideHelp())
    .action(mint);
}

async function mint(opts: { role: Role; teams: string; sub?: string; ttl: string; expires?: string }): Promise<void> {
  if (env("VARSEL_JWKS") !== undefined) throw new SettingError("VARSEL_JWKS is set: tokens come from the identity provider that holds the JWKS keys");
  const configured = env("VARSEL_JWT_SECRET");
  const secret = configured !== undefined ? checkSecret(configured) : devSecret(false);
  if (secret === undefined) throw new SettingError(`no secret: set VARSEL_JWT_SECRET, or start the server once in dev mode (it writes ${devSecretFile()})`);
  const teams = opts.teams.split(",").map((t) => t.trim()).filter(Boolean);
  if (teams.length === 0 && opts.role !== "admin") throw new SettingError("--teams is required for a device or clinician token");
  const auth = new Auth({ secret, issuer: env("VARSEL_JWT_ISSUER"), audience: env("VARSEL_JWT_AUDIENCE") });
  process.stdout.write(`${await auth.sign({ sub: opts.sub ?? opts.role, role: opts.role, teams }, opts.expires ?? opts.ttl)}\n`);
}
