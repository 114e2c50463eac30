// varsel/client: a typed client for varsel's alert stream (docs/client.md), for browsers and Node.
export { VarselClient, type ClientOptions } from "./client.js";
export type { Status, TokenSource, WebSocketConstructor, WebSocketLike } from "./connection.js";
export type { Update } from "./ordering.js";
export type { Format } from "./codec.js";
export type { BackoffOptions } from "./backoff.js";
export type { SilenceRequest, TimeInput } from "./commands.js";
export type { Unsubscribe } from "./feed.js";
export { CommandError, type ClientErrorCode } from "./errors.js";
export type * from "./protocol.js";
