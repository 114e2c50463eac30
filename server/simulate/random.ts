// Seeded randomness for the simulator: the same --seed gives the same cohort and the same
// readings. pure-rand's xoroshiro128+ (fast-check's generator) rather than Math.random; one
// independent stream per patient (a `jump` apart), so a patient's readings do not depend on the
// order in which the patients' readings are drawn (lanes, batches, timing).
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";

export class Random {
  private constructor(private readonly rng: JumpableRandomGenerator) {}

  static seeded(seed: number): Random {
    return new Random(xoroshiro128plus(seed | 0));
  }

  /** `count` independent streams, each 2^64 draws from the next (xoroshiro's jump). */
  streams(count: number): Random[] {
    const base = this.rng.clone();
    const out: Random[] = [];
    for (let i = 0; i < count; i++) {
      base.jump();
      out.push(new Random(base.clone()));
    }
    return out;
  }

  /** A copy that draws the same numbers from here on. */
  clone(): Random {
    return new Random(this.rng.clone());
  }

  /** Uniform in [0, 1). */
  next(): number {
    return uniformFloat64(this.rng);
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** A whole number from min to max, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Normally distributed (Box–Muller). */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** The items in a random order (Fisher–Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}
