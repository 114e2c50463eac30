// The catalogued code a call is refused with ("no error" when it is not refused).
import { VarselError } from "../../engine/errors.js";

export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof VarselError ? e.code : "not a VarselError";
  }
  return "no error";
}
