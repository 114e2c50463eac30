// Why one item is refused: thrown inside validation, caught per item (normalize's readInto, the
// FHIR mapping's entries and components), where it becomes a rejection. Deliberately not an
// Error: capturing a stack trace for each of 10 000 refused Bundle entries took a large share
// of the time to validate them, and a refusal's stack says nothing its code and message do not.
import type { ErrorCode } from "../errors.js";

export class Refusal {
  constructor(
    readonly code: ErrorCode,
    readonly message: string,
  ) {}
}

/** Throws a Refusal: `refuse("unit_mismatch", "...")` reads as a guard that cannot return. */
export function refuse(code: ErrorCode, message: string): never {
  throw new Refusal(code, message);
}
