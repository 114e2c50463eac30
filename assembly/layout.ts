// The kernel's memory layout and codes: the one place both sides read them.
// This file is valid AssemblyScript and valid TypeScript (plain integer constants only),
// so the kernel (assembly/) and the host (engine/) import the same numbers.
// The prose that explains every field is docs/kernel.md; keep the two in step.

export const LAYOUT_MAGIC = 0x56415253; // "VARS"
export const LAYOUT_VERSION = 2;
export const NONE = 0xffffffff; // "no index" in u32 link fields

// ---- Header (at heapBase, 128 bytes): u32 fields at these byte offsets ----
export const H_MAGIC = 0;
export const H_VERSION = 4;
export const H_SLOT_CAP = 8;
export const H_SLOT_COUNT = 12;
export const H_RULE_CAP = 16;
export const H_RULE_COUNT = 20;
export const H_PARAM_CAP = 24;
export const H_PARAM_COUNT = 28;
export const H_SCORE_CAP = 32;
export const H_SCORE_COUNT = 36;
export const H_HIST_CAP = 40; // history entries in the pool
export const H_HIST_COUNT = 44; // entries handed out to slots
export const H_BATCH_CAP = 48; // readings per evaluate() call
export const H_OUT_CAP = 52; // transition records per call
export const H_MAX_RULES_PER_SLOT = 56;
export const H_OFF_PARAMS = 60;
export const H_OFF_SLOTS = 64;
export const H_OFF_RULES = 68;
export const H_OFF_SCORES = 72;
export const H_OFF_HIST_T = 76;
export const H_OFF_HIST_V = 80;
export const H_STATE_END = 84; // end of the state regions (a snapshot holds their used records only)
export const H_OFF_IN_SLOT = 88;
export const H_OFF_IN_TIME = 92;
export const H_OFF_IN_VALUE = 96;
export const H_OFF_TRIAGE = 100;
export const H_OFF_OUT = 104;
export const H_END = 108;
export const HEADER_BYTES = 128;

// ---- Param set (64 bytes): settings shared by many rules ----
export const PARAM_BYTES = 64;
export const P_FOR_MS = 0; // f64
export const P_KEEP_MS = 8; // f64
export const P_WINDOW_MS = 16; // f64
export const P_HORIZON_MS = 24; // f64
export const P_DEADLINE_MS = 32; // f64 (ms after local midnight)
export const P_GRACE_MS = 40; // f64
export const P_MARGIN = 48; // f32
export const P_N = 52; // u8
export const P_M = 53; // u8 (0 = no N-of-M)
export const P_MODE = 54; // u8
export const P_MIN_COUNT = 55; // u8
export const P_WEEKDAYS = 56; // u8, bit 0 = Monday
export const P_EVERY_N_DAYS = 57; // u8
// u8, missing daily mode: MISSING_ENROLMENT_DAY_*. Skipped is 0, so a param record of a snapshot
// made before this field existed (zero-filled) reads as before: no layout version bump.
export const P_ENROLMENT_DAY = 58;

// ---- Slot, hot record (16 bytes): all that a reading on a quiet slot touches ----
export const SLOT_BYTES = 16;
export const S_LAST_TIME = 0; // f64, -Infinity when no reading yet
export const S_LAST_VALUE = 8; // f32
export const S_GATE = 12; // u32, the quiet gate: bfloat16 low limit (bits 0-15), bfloat16 high limit (bits 16-31)

export const GATE_CLOSED = 0xff807f80; // low +Infinity, high -Infinity: no value passes

// ---- Slot, cold record (16 bytes, "slot info"): rules, history ring, reference, flags ----
export const SLOT_INFO_BYTES = 16;
export const I_FIRST_RULE = 0; // u32, NONE = no rule
export const I_HIST_BASE = 4; // u32, first entry of this slot's ring
export const I_REF = 8; // f32, clinician reference, NaN = none
export const I_HIST_CAP = 12; // u8
export const I_HIST_LEN = 13; // u8
export const I_HIST_HEAD = 14; // u8, next write position
export const I_FLAGS = 15; // u8: SLOT_* bits, rule count in the high nibble

export const SLOT_PAUSED = 1;
export const SLOT_RULES_SHIFT = 4; // flags >> 4 = number of rules, saturating at 15 (a prefetch hint)

// ---- Rule (64 bytes, one cache line) ----
export const RULE_BYTES = 64;
export const R_KIND = 0; // u8
export const R_LEVEL = 1; // u8, current alert level
export const R_DIR = 2; // u8, current alert direction
export const R_FLAGS = 3; // u8
export const R_PARAM = 4; // u16
export const R_MASK_Y = 6; // u16, last M raw>=yellow bits
export const R_MASK_R = 8; // u16, last M raw>=red bits
export const R_RAW_LEVEL = 10; // u8, raw level of the last observation
export const R_RAW_DIR = 11; // u8
export const R_SLOT = 12; // u32
export const R_L0 = 16; // f32 red low
export const R_L1 = 20; // f32 yellow low
export const R_L2 = 24; // f32 yellow high
export const R_L3 = 28; // f32 red high
export const R_T0 = 32; // f64 since-yellow (value rules) | anchor (missing)
export const R_T1 = 40; // f64 since-red
export const R_T2 = 48; // f64 below-since (keep-firing timer)
export const R_NEXT = 56; // u32 next rule of the same slot, NONE = end
export const R_AUX = 60; // u32 score: inputs entry; score link: score rule id

export const RULE_ON_OXYGEN = 1; // score: supplemental oxygen (+2, scale-2 high band)
export const RULE_COMPUTED_REF = 2; // baseline: use the median of recent history when the slot has no reference

// ---- Score inputs (32 bytes): slot ids feeding a NEWS2 rule, NONE when absent ----
export const SCORE_BYTES = 32;
export const SCORE_INPUTS = 6; // resp, spo2, sys, pulse, temp, consciousness
// Inside evaluate() only (NONE at rest): a score's pending observation set (docs/kernel.md, "NEWS2 score")
export const SC_OPENER = 24; // u32, the score link whose reading opened the set
export const SC_NEXT = 28; // u32, the next pending score rule
// While a set is pending, its opening link's record holds t0 = the set's first time, t1 = its
// latest time, t2 = the reading that last joined it (NaN at rest).
export const SCORE_SET_MS = 300000; // one batch's readings of a score's inputs within 5 min of the set's first reading are one set

// ---- Transition record (32 bytes) written by evaluate() and tick() ----
export const TR_BYTES = 32;
export const TR_RULE = 0; // u32
export const TR_KIND = 4; // u8
export const TR_FROM = 5; // u8
export const TR_TO = 6; // u8
export const TR_DIR = 7; // u8
export const TR_TIME = 8; // f64
export const TR_X = 16; // f64, the derived value that decided (NaN on tick)
export const TR_READING = 24; // i32, index in the batch, -1 on tick
export const TR_DETAIL = 28; // u32, score: missing-parameter mask | single-3 flag << 8; missing: 0

// ---- Enumerations ----
export const KIND_OFF = 0;
export const KIND_BAND = 1;
export const KIND_BASELINE = 2;
export const KIND_DELTA = 3;
export const KIND_RATE = 4;
export const KIND_MISSING = 5;
export const KIND_SCORE = 6;
export const KIND_SCORE_LINK = 7;

export const LEVEL_NONE = 0;
export const LEVEL_YELLOW = 1;
export const LEVEL_RED = 2;

export const DIR_NONE = 0;
export const DIR_LOW = 1;
export const DIR_HIGH = 2;

export const TRIAGE_NOT_TRIAGED = 0;
export const TRIAGE_N = 1;
export const TRIAGE_L = 2;
export const TRIAGE_H = 3;
export const TRIAGE_LL = 4;
export const TRIAGE_HH = 5;
export const TRIAGE_REF_NEEDED = 6;
export const TRIAGE_OUT_OF_ORDER = 7;
export const TRIAGE_DUPLICATE = 8;

export const TR_RAISE = 1;
export const TR_UPGRADE = 2;
export const TR_DOWNGRADE = 3;
export const TR_RESOLVE = 4;

export const BASELINE_ABSOLUTE = 0;
export const BASELINE_PERCENT = 1;
export const BASELINE_POINTS = 2;

export const RATE_SLOPE = 0;
export const RATE_FORECAST = 1;

export const MISSING_INTERVAL = 0;
export const MISSING_DAILY = 1;

// Does the day a daily rule is armed on count (docs/kernel.md "Missing data")?
export const MISSING_ENROLMENT_DAY_SKIPPED = 0;
export const MISSING_ENROLMENT_DAY_COUNTS = 1;

export const NEWS2_SCALE_1 = 1;
export const NEWS2_SCALE_2 = 2;

// evaluate()/tick() error returns (negative)
export const ERR_BAD_SLOT = -1;
export const ERR_OUT_FULL = -2;
export const ERR_BATCH_TOO_LARGE = -3;

export const DAY_MS = 86400000;
export const MISSING_MAX_DAYS = 62; // a daily-deadline rule looks back at most this many days

// ---- Added by the kernel (assembly/) ----
export const H_HEAP_BASE = 112; // u32: the address the header lives at (offsets above are absolute)
export const H_OFF_INFO = 116; // u32: slot info (cold slot records), between slots and rules
export const ERR_NO_MEMORY = -4; // reserve(): memory.grow failed or the layout would pass 4 GiB
export const ERR_BAD_BLOCK = -5; // replayBlock(): runs or intervals malformed (docs/kernel.md, "Replay blocks")
// Replay blocks (docs/kernel.md, "Replay blocks"): capacities of the block region, which lies after
// the transition region and is per-call input (not kept by reserve(), not in a snapshot).
export const CACHED_STATE_BYTES = 524288; // state in use (slots, rules, history) up to which evaluate() treats it as cached (no prefetch; a backtest group stays time-major)
export const H_BLOCK_TICK_CAP = 120; // u32: tick instants per block
export const H_BLOCK_RUN_CAP = 124; // u32: runs (patients) per block
export const RUN_BYTES = 16; // a run: u32 start, end (sorted readings [start, end): the kernel's), ruleFrom, ruleTo (rules [from, to): the host's)
// Parts of the block region (blockAt(part) gives the address): docs/kernel.md, "Replay blocks"
export const BLOCK_SLOT_RUNS = 0; // u32 per slot: its run (host)
export const BLOCK_INTERVAL_STARTS = 1; // u32 × (m + 1): where interval k starts in the input columns (host)
export const BLOCK_TICKS = 2; // f64 pairs × m: tick time, UTC offset (host)
export const BLOCK_NOWS = 3; // f64 pairs × (m + 1): interval k's now, UTC offset (host)
export const BLOCK_RUNS = 4; // RUN_BYTES × p (host: rules; kernel: readings)
export const BLOCK_SORTED_SLOT = 5; // the readings sorted by run (kernel): slot u32,
export const BLOCK_SORTED_TIME = 6; // time f64,
export const BLOCK_SORTED_VALUE = 7; // value f32,
export const BLOCK_SORTED_INTERVAL = 8; // interval u32

// Rule flag bits the kernel derives from the param set (host flags use the low bits only)
export const RULE_HOST_FLAGS = 0x1f;
export const RULE_K_NO_MARGIN = 0x20; // margin == 0: the alert classification is the plain one
export const RULE_K_NO_PERSIST = 0x40; // forMs == 0, keepMs == 0, M == 0: the alert follows raw
export const RULE_K_TICK = 0x80; // forMs > 0 || keepMs > 0: tick() settles it
export const MASK_MAX = 16; // N of M: M is clamped to this (the masks are u16)
