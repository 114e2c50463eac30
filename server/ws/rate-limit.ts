// A socket's message budget, judged when a frame arrives (before it is decoded or queued): a
// token bucket of `rate` messages per second, bursts up to twice that. Over it, the socket is
// muted: it gets one notice, and every frame is dropped until the bucket has refilled to one
// second's worth. Dropped frames still count (a client that keeps sending keeps the bucket empty),
// and a muted socket that drops more than a full burst is closed: one error frame per refused
// frame made a ping flood cost the server more than the flood itself (issue 11).

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly rate: number, now: number) {
    this.tokens = this.burst;
    this.last = now;
  }

  get burst(): number {
    return this.rate * 2;
  }

  /** The tokens now (negative: frames sent while muted are owed). */
  level(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    return this.tokens;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now: number): boolean {
    if (this.level(now) < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Charges a refused frame (down to one burst of debt). */
  charge(now: number): void {
    this.tokens = Math.max(-this.burst, this.level(now) - 1);
  }

  /** Milliseconds until the bucket holds `n` tokens, if nothing more is sent. */
  msUntil(n: number, now: number): number {
    return Math.max(0, Math.ceil(((n - this.level(now)) / this.rate) * 1000));
  }
}

/** What to do with an arriving frame. */
export type Verdict =
  /** handle it */
  | "admit"
  /** drop it and tell the client once (error rate_limited) */
  | "notice"
  /** drop it silently */
  | "drop"
  /** drop it and close the socket (4029) */
  | "close";

export class RateLimiter {
  private bucket: TokenBucket;
  private muted = false;
  private dropped = 0;

  constructor(rate: number, now: number) {
    this.bucket = new TokenBucket(rate, now);
  }

  get rate(): number {
    return this.bucket.rate;
  }

  /** A new budget (e.g. once authenticated); a muted socket stays muted. */
  setRate(rate: number, now: number): void {
    if (rate !== this.bucket.rate) this.bucket = new TokenBucket(rate, now);
  }

  /** Judges one arriving frame. */
  arrive(now: number): Verdict {
    if (this.muted && this.bucket.level(now) >= this.bucket.rate) this.muted = false; // it paused: admitted again
    if (!this.muted) {
      if (this.bucket.take(now)) return "admit";
      this.muted = true;
      this.dropped = 0;
    }
    this.bucket.charge(now);
    this.dropped++;
    if (this.dropped === 1) return "notice";
    return this.dropped > this.bucket.burst ? "close" : "drop";
  }

  /** What the notice asks the client to wait: until the bucket holds one second's worth again. */
  retryAfterMs(now: number): number {
    return this.bucket.msUntil(this.bucket.rate, now);
  }
}
