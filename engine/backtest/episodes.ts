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

/** An episode log's used columns (EpisodeLog.columns). */
export interface EpisodeColumns {
  count: number;
  patient: Int32Array;
  rule: Int32Array;
  start: Float64Array;
  end: Float64Array;
  peak: Int32Array;
  level: Int32Array;
  since: Float64Array;
  cut: number[];
  segments: number;
  segPatient: Int32Array;
  segStart: Float64Array;
  segEnd: Float64Array;
  segLevel: Int32Array;
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

  /** The log as plain columns (used parts only; a worker thread posts them). */
  columns(): EpisodeColumns {
    const n = this.count;
    const m = this.segments;
    return {
      count: n,
      patient: this.patient.a.slice(0, n),
      rule: this.rule.a.slice(0, n),
      start: this.start.a.slice(0, n),
      end: this.end.a.slice(0, n),
      peak: this.peak.a.slice(0, n),
      level: this.level.a.slice(0, n),
      since: this.since.a.slice(0, n),
      cut: [...this.cut],
      segments: m,
      segPatient: this.segPatient.a.slice(0, m),
      segStart: this.segStart.a.slice(0, m),
      segEnd: this.segEnd.a.slice(0, m),
      segLevel: this.segLevel.a.slice(0, m),
    };
  }

  /** Appends another log's episodes and segments, its patient and rule indices mapped through `patients` and `rules`. */
  append(c: EpisodeColumns, patients: readonly number[], rules: readonly number[]): void {
    const first = this.count;
    this.count += c.count;
    for (const col of [this.patient, this.rule, this.peak, this.level]) col.grow(this.count);
    for (const col of [this.start, this.end, this.since]) col.grow(this.count);
    for (let i = 0; i < c.count; i++) {
      const j = first + i;
      this.patient.a[j] = patients[c.patient[i]];
      this.rule.a[j] = rules[c.rule[i]];
      this.start.a[j] = c.start[i];
      this.end.a[j] = c.end[i];
      this.peak.a[j] = c.peak[i];
      this.level.a[j] = c.level[i];
      this.since.a[j] = c.since[i];
    }
    for (const i of c.cut) this.cut.add(first + i);
    const seg = this.segments;
    this.segments += c.segments;
    for (const col of [this.segPatient, this.segLevel]) col.grow(this.segments);
    for (const col of [this.segStart, this.segEnd]) col.grow(this.segments);
    for (let i = 0; i < c.segments; i++) {
      this.segPatient.a[seg + i] = patients[c.segPatient[i]];
      this.segStart.a[seg + i] = c.segStart[i];
      this.segEnd.a[seg + i] = c.segEnd[i];
      this.segLevel.a[seg + i] = c.segLevel[i];
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
