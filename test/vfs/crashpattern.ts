/** Deterministic file contents: byte i of file `seed` is a function of (seed, i). */
export function pattern(seed: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const x = offset + i;
    b[i] = (x * 31 + seed * 17 + (x >>> 11)) & 0xff;
  }
  return b;
}
