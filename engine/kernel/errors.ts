// Errors the kernel host throws, carrying the kernel's negative code (assembly/layout.ts ERR_*).
import { ERR_BAD_BLOCK, ERR_BAD_SLOT, ERR_BATCH_TOO_LARGE, ERR_NO_MEMORY, ERR_OUT_FULL } from "../../assembly/layout.js";

const MESSAGES: Record<number, string> = {
  [ERR_BAD_SLOT]: "a reading names a slot that does not exist",
  [ERR_OUT_FULL]: "the transition region is too small for the batch",
  [ERR_BATCH_TOO_LARGE]: "the batch is larger than the input region",
  [ERR_NO_MEMORY]: "wasm memory could not grow",
  [ERR_BAD_BLOCK]: "a replay block's runs or intervals are malformed",
};

/** A kernel call refused (nothing was applied); `code` is the kernel's ERR_* value. */
export class KernelError extends Error {
  constructor(
    readonly code: number,
    detail?: string,
  ) {
    super(`${MESSAGES[code] ?? `kernel error ${code}`}${detail ? `: ${detail}` : ""}`);
    this.name = "KernelError";
  }
}
