// Alert episodes and their level segments as growable columns: a year of a cohort's alerts
// without an object per alert. An episode is one patient's rule from raise to resolve; a
// segment is a stretch of it at one level (an upgrade or downgrade ends one and starts the next).

class F64 {
  a = new Float64Array(256);
  grow(n: number): void {
    if (n <= this.a.length) return;
    const b = new Float64Array(Math.max(n, this.a.length * 2));
    b.set(this.a);
    this.a = b;
  }
}

class I32 {
  a = new Int32Array(256);
  grow(n: number): void {
    if (n <= this.a.length) return;
    const b = new Int32Array(Math.max(n, this.a.length * 2));
    b.set(this.a);
    this.a = b;
  }
}

export class EpisodeLog {
  count = 0;
  readonly patient = new I32();
  readonly rule = new I32();
  readonly start = new F64();
  /** The resolve time; NaN while open. */
  readonly end = new F64();
  readonly peak = new I32();
  /** While open: the current level and when it began. */
  readonly level = new I32();
  readonly since = new F64();

  segments = 0;
  readonly segPatient = new I32();
  readonly segStart = new F64();
  readonly segEnd = new F64();
  readonly segLevel = new I32();

  /** Opens an episode at `level`; returns its index. */
  open(patient: number, rule: number, time: number, level: number): number {
    const i = this.count++;
    for (const c of [this.patient, this.rule, this.peak, this.level]) c.grow(this.count);
    for (const c of [this.start, this.end, this.since]) c.grow(this.count);
    this.patient.a[i] = patient;
    this.rule.a[i] = rule;
    this.start.a[i] = time;
    this.end.a[i] = NaN;
    this.peak.a[i] = level;
    this.level.a[i] = level;
    this.since.a[i] = time;
    return i;
  }

  /** The episode moves to another level at `time` (0 = resolved). */
  move(i: number, time: number, level: number): void {
    this.segment(this.patient.a[i], this.since.a[i], time, this.level.a[i]);
    if (level === 0) {
      this.end.a[i] = time;
      return;
    }
    this.level.a[i] = level;
    this.since.a[i] = time;
    if (level > this.peak.a[i]) this.peak.a[i] = level;
  }

  isOpen(i: number): boolean {
    return Number.isNaN(this.end.a[i]);
  }

  /** Episodes still open when the period ended (closed there by closeAll). */
  readonly cut = new Set<number>();

  /** Ends every open episode at `time` (the period's end), remembering they were cut. */
  closeAll(time: number): void {
    for (let i = 0; i < this.count; i++) {
      if (!this.isOpen(i)) continue;
      this.move(i, time, 0);
      this.cut.add(i);
    }
  }

  private segment(patient: number, start: number, end: number, level: number): void {
    const j = this.segments++;
    this.segPatient.grow(this.segments);
    this.segLevel.grow(this.segments);
    this.segStart.grow(this.segments);
    this.segEnd.grow(this.segments);
    this.segPatient.a[j] = patient;
    this.segStart.a[j] = start;
    this.segEnd.a[j] = end;
    this.segLevel.a[j] = level;
  }
}
