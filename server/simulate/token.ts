// Without --token, the simulator signs an admin token for itself the way `varsel token` does:
// with VARSEL_JWT_SECRET, or the development secret a dev-mode server keeps in
// VARSEL_DEV_SECRET_FILE (default .varsel/dev-secret). For local use; never printed.
import { readFileSync } from "node:fs";
import { Auth } from "../auth.js";

export async function localAdminToken(ttl: string): Promise<string | undefined> {
  const secret = process.env.VARSEL_JWT_SECRET || readSecret(process.env.VARSEL_DEV_SECRET_FILE || ".varsel/dev-secret");
  if (secret === undefined) return undefined;
  const auth = new Auth({ secret, issuer: process.env.VARSEL_JWT_ISSUER || undefined, audience: process.env.VARSEL_JWT_AUDIENCE || undefined });
  return auth.sign({ sub: "varsel-simulate", role: "admin", teams: [] }, ttl);
}

function readSecret(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
