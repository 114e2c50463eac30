// A token bucket per connection: `rate` messages per second, bursts up to twice that.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly rate: number, now: number) {
    this.tokens = rate * 2;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now: number): boolean {
    this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
