// A small router: "METHOD /v1/patients/:id" patterns to handlers, with 404 and 405 answers.
import { VarselError } from "../../engine/errors.js";
import { UNSUPPORTED_METHOD } from "../transport/common.js";
import type { HttpRequest, HttpResponse } from "../transport/types.js";

export type RouteHandler = (req: HttpRequest, params: Record<string, string>) => Promise<HttpResponse> | HttpResponse;

interface Route {
  method: string;
  pattern: string;
  parts: string[];
  handler: RouteHandler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** Adds a route; path segments starting with ":" capture a (percent-decoded) parameter. */
  on(method: string, pattern: string, handler: RouteHandler): this {
    this.routes.push({ method, pattern, parts: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  /** Every route as "METHOD /pattern", in the order added (the OpenAPI document is checked against it). */
  list(): string[] {
    return this.routes.map((r) => `${r.method} ${r.pattern}`);
  }

  /**
   * Finds and runs the handler: a method no route has (PROPFIND, TRACE, HEAD …) → method_not_allowed
   * on any path; unknown path → not_found; known path other method → method_not_allowed.
   */
  async handle(req: HttpRequest): Promise<HttpResponse> {
    if (!this.routes.some((r) => r.method === req.method)) throw new VarselError("method_not_allowed", UNSUPPORTED_METHOD);
    const parts = req.path.split("/").filter(Boolean);
    let pathKnown = false;
    for (const route of this.routes) {
      const params = match(route.parts, parts);
      if (params === null) continue;
      pathKnown = true;
      if (route.method === req.method) return route.handler(req, params);
    }
    throw new VarselError(pathKnown ? "method_not_allowed" : "not_found", pathKnown ? `${req.method} is not allowed here` : "no such path");
  }
}

function match(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(":")) {
      try {
        params[pattern[i].slice(1)] = decodeURIComponent(parts[i]);
      } catch {
        return null;
      }
    } else if (pattern[i] !== parts[i]) return null;
  }
  return params;
}
