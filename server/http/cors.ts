// CORS for browser frontends on another origin. Tokens travel in the Authorization header, not
// in cookies, so no credentials mode is needed; only origins on the configured list get the
// headers (none by default: a clinical API is not open to every web page).
import type { HttpRequest, HttpResponse } from "../transport/types.js";

const ALLOW_METHODS = "GET, POST, PUT, DELETE";
const ALLOW_HEADERS = "Authorization, Content-Type, Accept";
const MAX_AGE_S = "600";

export class Cors {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  /** `origins`: exact origins ("https://app.example.dk"), or "*" for any. */
  constructor(origins: readonly string[] = []) {
    this.any = origins.includes("*");
    this.origins = new Set(origins);
  }

  /**
   * Answers a preflight from an allowed origin (204 with the allowed methods and headers), or
   * runs `handle` and adds the origin header to its answer (errors included, so a browser can
   * read their codes). Requests from other origins pass through unchanged.
   */
  async answer(req: HttpRequest, handle: () => Promise<HttpResponse>): Promise<HttpResponse> {
    const origin = req.headers.origin;
    if (origin === undefined || !(this.any || this.origins.has(origin))) return handle();
    const allow = { "access-control-allow-origin": this.any ? "*" : origin, vary: "Origin" };
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      return {
        status: 204,
        headers: { ...allow, "access-control-allow-methods": ALLOW_METHODS, "access-control-allow-headers": ALLOW_HEADERS, "access-control-max-age": MAX_AGE_S },
      };
    }
    const res = await handle();
    return { ...res, headers: { ...res.headers, ...allow } };
  }
}
