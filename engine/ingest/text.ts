// Text that may reach the journal or an answer. Strings taken from input must be well-formed
// Unicode without control characters: MessagePack writes a lone surrogate as U+FFFD, so two
// distinct ids would replay as one, and ids are joined with U+0000 into idempotency keys, so a
// NUL inside one would let two keys collide. Messages that echo input are clipped.
// (Regular expressions rather than String.prototype.isWellFormed / toWellFormed: the project
// compiles against the ES2022 library, which does not declare them.)

/** Control characters, and lone surrogates: in a `u` expression a surrogate pair is one code point outside this class. */
const UNKEEPABLE = /[\u0000-\u001f\u007f\ud800-\udfff]/u;
const LONE_SURROGATES = /[\ud800-\udfff]/gu;

/** Why `s` cannot be kept as text ("is not well-formed …" / "contains a control …"), or undefined. */
export function textProblem(s: string): string | undefined {
  const at = s.search(UNKEEPABLE);
  if (at < 0) return undefined;
  return s.charCodeAt(at) >= 0xd800 ? "is not well-formed Unicode (lone surrogate)" : "contains a control character";
}

/** `s` with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed). */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATES, "\ufffd");
}

/** `s` cut to at most `max` UTF-16 units plus "…", never between the halves of a surrogate pair. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const last = s.charCodeAt(max - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return `${s.slice(0, end)}…`;
}
