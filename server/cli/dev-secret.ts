// Dev mode: with neither VARSEL_JWT_SECRET nor a JWKS, tokens are signed with a generated secret
// kept in a file (mode 0600), so `varsel token` can sign with the one the server uses. Never
// printed, never logged; deleting the file invalidates every dev token.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";
import { env, MIN_SECRET_LENGTH } from "./settings.js";

/** Where the development secret is kept. */
export const devSecretFile = (): string => env("VARSEL_DEV_SECRET_FILE") ?? ".varsel/dev-secret";

/** The development secret in the file, or (`create`) a new random one written there (owner-only). */
export function devSecret(create: boolean): string | undefined {
  const file = devSecretFile();
  try {
    const kept = readFileSync(file, "utf8").trim();
    if (kept.length >= MIN_SECRET_LENGTH) return kept;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (!create) return undefined;
  const secret = randomBytes(32).toString("base64url");
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file (too short a secret) keeps its mode otherwise
  return secret;
}
