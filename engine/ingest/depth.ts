// How deeply one ingest item may nest. A reading is flat and a FHIR entry a few levels deep; an
// item nested deeper, anywhere (unknown fields included), is refused alone so that nothing
// downstream that walks values recursively can be made to exhaust the stack.

/**
 * Deepest nesting of one item: a reading object, or a FHIR Bundle entry `{resource: …}` (a
 * single Observation counts as such an entry, so its resource is level 2). The item itself is
 * level 1, each array or object inside it one more.
 */
export const MAX_ITEM_DEPTH = 32;

/**
 * True when `root` nests arrays and plain objects more than `max` (≥ 1) levels deep. Iterative, and
 * it descends only into array and plain-object values, so a flat reading costs one pass over
 * its keys. Other objects (Date, Buffer, typed arrays, Map, Set) count as leaves: their
 * contents are never read as fields.
 */
export function nestedDeeperThan(root: unknown, max: number): boolean {
  if (!isNested(root)) return false;
  // Pairs of (node, its depth) still to visit; allocated only when a nested value is found.
  let pending: unknown[] | undefined;
  let node: object = root;
  let depth = 1;
  for (;;) {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (!isNested(v)) continue;
        if (depth === max) return true;
        (pending ??= []).push(v, depth + 1);
      }
    } else {
      for (const key in node) {
        const v: unknown = (node as Record<string, unknown>)[key];
        if (!isNested(v)) continue;
        if (depth === max) return true;
        (pending ??= []).push(v, depth + 1);
      }
    }
    if (pending === undefined || pending.length === 0) return false;
    depth = pending.pop() as number;
    node = pending.pop() as object;
  }
}

function isNested(v: unknown): v is object {
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
