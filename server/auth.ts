// Who is asking: JWT (HS256 secret or a JWKS file) with claims sub, role and teams.
// Devices ingest for their teams' patients; clinicians read, ack and silence within their teams;
// admins manage patients and thresholds.
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTVerifyGetKey } from "jose";
import { VarselError } from "../engine/errors.js";
import { textProblem } from "../engine/ingest/text.js";

export type Role = "device" | "clinician" | "admin";
const ROLES: readonly Role[] = ["device", "clinician", "admin"];

export interface Principal {
  sub: string;
  role: Role;
  teams: string[];
  /** Expiry in ms since the epoch (Infinity when the token has none). */
  expiresAt: number;
}

export interface AuthOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** Path to a JWKS JSON file (asymmetric keys). */
  jwksFile?: string;
  /** When set, a token's `iss` must equal it (VARSEL_JWT_ISSUER). */
  issuer?: string;
  /** When set, a token's `aud` must be or contain it (VARSEL_JWT_AUDIENCE). */
  audience?: string;
}

/** Verified tokens remembered (a handshake storm of one gateway's sockets verifies once). */
const VERIFIED_CACHE = 4096;

export class Auth {
  private readonly key: Uint8Array | JWTVerifyGetKey;
  /** token → its principal, until the token expires; cleared whole when full (simple, bounded). */
  private readonly verified = new Map<string, Principal>();

  /** `onRefused`: told why a token was refused (never the token), for the log. */
  constructor(
    private readonly options: AuthOptions,
    private readonly onRefused?: (reason: string) => void,
  ) {
    if (options.jwksFile !== undefined) this.key = createLocalJWKSet(JSON.parse(readFileSync(options.jwksFile, "utf8")));
    else if (options.secret !== undefined && options.secret.length >= 32) this.key = new TextEncoder().encode(options.secret);
    else throw new Error("auth needs a JWKS file or an HS256 secret of at least 32 characters");
  }

  /** Verifies a token; throws VarselError unauthorized / token_expired. */
  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token);
    if (known !== undefined && known.expiresAt > Date.now()) return known;
    const who = await this.verifyNow(token);
    if (this.verified.size >= VERIFIED_CACHE) this.verified.clear();
    this.verified.set(token, who);
    return who;
  }

  private async verifyNow(token: string): Promise<Principal> {
    try {
      return await this.check(token);
    } catch (err) {
      // jose's codes (ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ERR_JWT_CLAIM_VALIDATION_FAILED, ...) say why; ours are messages.
      const cause = (err as { cause?: { code?: unknown } }).cause?.code;
      this.onRefused?.(err instanceof VarselError ? (typeof cause === "string" ? cause : err.code === "token_expired" ? "token_expired" : err.message) : "error");
      throw err;
    }
  }

  private async check(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.key as Uint8Array, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.key instanceof Uint8Array ? ["HS256"] : undefined,
      });
      const role = payload.role as Role;
      const teams = payload.teams;
      if (typeof payload.sub !== "string" || !ROLES.includes(role) || !Array.isArray(teams) || !teams.every((t) => typeof t === "string")) {
        throw new VarselError("unauthorized", "token lacks sub, role or teams");
      }
      // sub and teams are journaled (authors, ingest scopes): they must be text that is kept exactly.
      if ([payload.sub, ...teams].some((t) => t === "" || textProblem(t) !== undefined)) {
        throw new VarselError("unauthorized", "token sub or teams hold empty text, a lone surrogate or a control character");
      }
      return { sub: payload.sub, role, teams, expiresAt: payload.exp === undefined ? Infinity : payload.exp * 1000 };
    } catch (err) {
      if (err instanceof VarselError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new VarselError("token_expired");
      throw new VarselError("unauthorized", "invalid token", undefined, { cause: err });
    }
  }

  /** Signs a token with the HS256 secret (local tokens for development and tests), with the configured `iss` / `aud`. */
  async sign(claims: { sub: string; role: Role; teams: string[] }, expiresIn: string | number = "12h"): Promise<string> {
    if (!(this.key instanceof Uint8Array)) throw new Error("signing needs the HS256 secret");
    const jwt = new SignJWT({ role: claims.role, teams: claims.teams })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(expiresIn);
    if (this.options.issuer !== undefined) jwt.setIssuer(this.options.issuer);
    if (this.options.audience !== undefined) jwt.setAudience(this.options.audience);
    return jwt.sign(this.key);
  }
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

/** Does the principal share a team with the patient? Admins see everyone. */
export function canSeePatient(who: Principal, patientTeams: readonly string[]): boolean {
  return who.role === "admin" || patientTeams.some((t) => who.teams.includes(t));
}

/** Throws forbidden unless the principal has one of the roles. */
export function requireRole(who: Principal, ...roles: Role[]): void {
  if (!roles.includes(who.role)) throw new VarselError("forbidden", `needs role ${roles.join(" or ")}`);
}

// Who may ingest and who may acknowledge: one answer for HTTP and the socket.

/**
 * Throws forbidden unless the principal may ingest (devices and admins); returns the teams its
 * readings are limited to (a device's), or undefined for every patient (an admin).
 */
export function requireIngest(who: Principal): readonly string[] | undefined {
  requireRole(who, "device", "admin");
  return who.role === "admin" ? undefined : who.teams;
}

/** The answer for an alert that does not exist or is outside the asker's care teams: one answer for both. */
export function alertNotFound(): VarselError {
  return new VarselError("not_found", "alert not found");
}

/**
 * Throws forbidden unless the principal may acknowledge alerts (clinicians and admins), then
 * looks the alert up: `patientTeams` answers its patient's teams, or throws `not_found` for an
 * unknown alert. An alert of a patient outside the principal's teams is answered exactly as an
 * unknown one (`alertNotFound`, HTTP and socket alike), so alert ids cannot be probed. The alert
 * is looked up only once the role passed: a device must not learn that an id exists either.
 */
export function requireAck(who: Principal, patientTeams: () => readonly string[]): void {
  requireRole(who, "clinician", "admin");
  let teams: readonly string[];
  try {
    teams = patientTeams();
  } catch (err) {
    throw err instanceof VarselError && err.code === "not_found" ? alertNotFound() : err;
  }
  if (!canSeePatient(who, teams)) throw alertNotFound();
}
