// The board's HTTP reads that the live connection does not carry (history, stored readings,
// the handover list, silences) and the development sign-in. Same origin, token in the header.

/** An error answer from the catalogue (docs/http.md, Errors), or `network` when none came. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function api<T>(token: string | undefined, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (err) {
    throw new ApiError("network", String(err), 0);
  }
  const answer = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!res.ok) throw new ApiError(answer.code ?? "internal_error", answer.message ?? res.statusText, res.status);
  return answer as T;
}

export interface DevToken {
  token: string;
  sub: string;
  teams: string[];
  expiresAt: number;
}

/** Whether the server offers development sign-in: asked without teams, it answers 422, not 404. */
export async function devSignInOffered(): Promise<boolean> {
  try {
    await api(undefined, "GET", "/v1/dev/token");
    return true;
  } catch (err) {
    return err instanceof ApiError && err.code === "invalid_field";
  }
}

export function devToken(teams: string): Promise<DevToken> {
  return api<DevToken>(undefined, "GET", `/v1/dev/token?role=clinician&teams=${encodeURIComponent(teams)}`);
}
