/**
 * Bad XDR input: a short record, a length above its max, non-zero padding, a bool that is
 * neither 0 nor 1, an enum value outside its set, or bytes left over after a decode.
 * The RPC layer turns it into GARBAGE_ARGS; it is never a bug in jfs (those are assertions).
 */
export class XdrError extends Error {
  override name = "XdrError";
}
