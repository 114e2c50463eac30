// Typed arrays as bytes and back, for the compact parts of a snapshot.

/** The bytes of a typed array (same memory, no copy). */
export function bytesOf(a: Int32Array | Uint32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A fresh, aligned copy: bytes from a decoder may sit at any offset of a shared buffer. */
export function alignedCopy(b: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out.buffer;
}
