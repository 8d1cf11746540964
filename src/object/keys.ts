/**
 * Object keys are listed in UTF-8 byte order, as S3 does. JavaScript's `<` compares UTF-16 code
 * units, which disagrees with byte order once a key holds characters above U+FFFF next to ones in
 * U+E000..U+FFFF, so every store and test compares keys with this function instead.
 */

/** Negative, zero or positive as `a` sorts before, with or after `b` in UTF-8 byte order. */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Code point order equals UTF-8 byte order; UTF-16 only breaks it for surrogates (U+D800..
    // U+DFFF), which stand for code points above every BMP character.
    return surrogateLast(x) - surrogateLast(y);
  }
  return a.length - b.length;
}

function surrogateLast(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}
