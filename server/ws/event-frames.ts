// A replayed event's frame, encoded once per format and kept as long as the event itself (a
// WeakMap on the retained event object): in a reconnect storm thousands of sockets resume over
// the same events, and encoding each again per socket was a tenth of the server's time
// (bench:server storm). Only replays use it, so only replayed events hold their bytes.
import type { LifecycleEvent } from "../../engine/lifecycle/types.js";
import { encode, type Format } from "../codec.js";

const frames = new WeakMap<LifecycleEvent, Partial<Record<Format, string | Buffer>>>();

export function replayFrame(event: LifecycleEvent, format: Format): string | Buffer {
  let byFormat = frames.get(event);
  if (byFormat === undefined) frames.set(event, (byFormat = {}));
  return (byFormat[format] ??= encode({ type: "event", event }, format));
}
