// Development sign-in (GET /v1/dev/token): offered only by a server running with a generated
// development secret. Everything else goes through varsel/client.

export interface DevToken {
  token: string;
  sub: string;
  teams: string[];
  expiresAt: number;
}

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

/** Whether the server offers development sign-in: asked without teams it answers 422, not 404. */
export async function devSignInOffered(): Promise<boolean> {
  try {
    return (await get("/v1/dev/token")).status === 422;
  } catch {
    return false;
  }
}

/** A fresh development token for these teams (comma-separated). */
export async function devToken(teams: string): Promise<DevToken> {
  const { status, body } = await get(`/v1/dev/token?role=clinician&teams=${encodeURIComponent(teams)}`);
  if (status !== 200) throw new Error(String(body.message ?? `development sign-in answered ${status}`));
  return body as unknown as DevToken;
}
