// The floor loop for `npm run bench:kernel`: the smallest possible band check, no rule
// machinery. For each reading: load the 4 f32 limits of its slot (red-low, yellow-low,
// yellow-high, red-high), compare the value, write a u8 triage code (the same codes as
// assembly/layout.ts: N 1, L 2, H 3, LL 4, HH 5). It reads the same columnar input as the
// kernel (slots u32, times f64, values f32; times are copied in by the host but not read), in
// the same order. It is the practical limit of the machine, not a competitor.
//
// Memory (from __heap_base, each region 64-byte aligned):
//   limits  16 B per slot (4 x f32)
//   slots    4 B per reading | times 8 B per reading | values 4 B per reading
//   triage   1 B per reading

let limitsOff: usize = 0;
let inSlotOff: usize = 0;
let inTimeOff: usize = 0;
let inValueOff: usize = 0;
let triageOff: usize = 0;
let endOff: usize = 0;

// @ts-ignore: decorator
@inline
function align64(x: usize): usize {
  return (x + 63) & ~(<usize>63);
}

/** Lays out the regions for `slotCap` slots and `batchCap` readings per call and grows memory.
 *  Returns the end offset, or 0 when memory could not grow. */
export function init(slotCap: u32, batchCap: u32): usize {
  limitsOff = align64(__heap_base);
  inSlotOff = align64(limitsOff + (<usize>slotCap << 4));
  inTimeOff = align64(inSlotOff + (<usize>batchCap << 2));
  inValueOff = align64(inTimeOff + (<usize>batchCap << 3));
  triageOff = align64(inValueOff + (<usize>batchCap << 2));
  endOff = align64(triageOff + <usize>batchCap);
  const pages = <i32>((endOff + 0xffff) >>> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return 0;
  return endOff;
}

export function limitsPtr(): usize {
  return limitsOff;
}
export function inSlotPtr(): usize {
  return inSlotOff;
}
export function inTimePtr(): usize {
  return inTimeOff;
}
export function inValuePtr(): usize {
  return inValueOff;
}
export function triagePtr(): usize {
  return triageOff;
}

/** Band check of the first `n` readings of the input columns. */
export function run(n: i32): void {
  const lim = limitsOff;
  const sp = inSlotOff;
  const vp = inValueOff;
  const tp = triageOff;
  for (let i = 0; i < n; i++) {
    const s = load<u32>(sp + (<usize>i << 2));
    const v = load<f32>(vp + (<usize>i << 2));
    const l = lim + (<usize>s << 4);
    const l0 = load<f32>(l, 0);
    const l1 = load<f32>(l, 4);
    const l2 = load<f32>(l, 8);
    const l3 = load<f32>(l, 12);
    // Same precedence as the kernel's classify: LL, HH, L, H, N (NaN limits never fire).
    let c: u32 = select<u32>(3, 1, v > l2);
    c = select<u32>(2, c, v < l1);
    c = select<u32>(5, c, v > l3);
    c = select<u32>(4, c, v < l0);
    store<u8>(tp + <usize>i, <u8>c);
  }
}
