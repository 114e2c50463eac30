// A WebSocket test client (the `ws` library, as integrators in Node would use): collects every
// frame and lets a test wait for the next one that matches.
import WebSocket from "ws";
import { decode, encode, type Format } from "../../server/codec.js";

export type Frame = Record<string, any>;

export class TestSocket {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void; from: number }[] = [];
  closed: Promise<{ code: number; reason: string }>;
  private cursor = 0;

  private constructor(readonly ws: WebSocket, readonly format: Format) {
    ws.on("message", (data: Buffer) => {
      const frame = decode(data, format) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a socket; `protocols` as a browser would offer them. */
  static open(url: string, protocols: string[], format: Format = "json"): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const socket = new TestSocket(ws, format);
      ws.once("open", () => resolve(socket));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /** Connects with the token in a subprotocol (the browser way). */
  static async connect(url: string, token: string, format: Format = "json"): Promise<TestSocket> {
    const socket = await TestSocket.open(url, [format === "json" ? "varsel.v1.json" : "varsel.v1.msgpack", `bearer.${token}`], format);
    await socket.next((f) => f.type === "authenticated");
    return socket;
  }

  send(message: Frame): void {
    this.ws.send(encode(message, this.format));
  }

  /** The next frame after the previous `next` that matches (frames already received count). */
  next(match: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    for (let i = this.cursor; i < this.frames.length; i++) {
      if (match(this.frames[i])) {
        this.cursor = i + 1;
        return Promise.resolve(this.frames[i]);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(this.cursor)).slice(0, 500)}`)), timeoutMs);
      this.waiters.push({
        match,
        from: this.cursor,
        resolve: (f) => {
          clearTimeout(timer);
          this.cursor = this.frames.indexOf(f) + 1;
          resolve(f);
        },
      });
    });
  }

  /** Sends a ping and waits for the pong: every frame the server sent before it has arrived. */
  async sync(): Promise<void> {
    const id = `sync-${Math.random()}`;
    this.send({ type: "ping", id });
    await this.next((f) => f.type === "pong" && f.id === id);
  }

  /** Events received so far (all of them, not only after the cursor). */
  events(): Frame[] {
    return this.frames.filter((f) => f.type === "event").map((f) => f.event);
  }

  close(): void {
    this.ws.close(1000, "bye");
  }
}
