// Derived values of the window rules come back through these two globals (no tuples without
// allocation).
export let gXLow: f64 = NaN;
export let gXHigh: f64 = NaN;

// @ts-ignore: decorator
@inline
export function setX(xLow: f64, xHigh: f64): void {
  gXLow = xLow;
  gXHigh = xHigh;
}
