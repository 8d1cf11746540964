/**
 * Freeing a buffer now rather than when the collector gets to it: ArrayBuffer.prototype
 * .transfer(0) gives the memory back at once, and any view still pointing at it reads as empty
 * instead of reading reused bytes. Used by the pools of the data path (src/chunk/buffers.ts)
 * and of the NFS server, whose buffers span their whole ArrayBuffer.
 */
import { assert } from "./assert.ts";

/** Gives the memory of `buffer` back now; views of it become empty. */
export function freeBuffer(buffer: Uint8Array): void {
  const whole = buffer.buffer;
  assert(whole instanceof ArrayBuffer, "only plain ArrayBuffers are freed");
  assert(buffer.byteOffset === 0 && buffer.byteLength === whole.byteLength, "freeing a view");
  whole.transfer(0);
}

/** True when `buffer` is the whole of a plain ArrayBuffer (so freeing it frees nothing else). */
export function isWholeBuffer(buffer: Uint8Array): boolean {
  const whole = buffer.buffer;
  return (
    whole instanceof ArrayBuffer &&
    buffer.byteOffset === 0 &&
    buffer.byteLength === whole.byteLength
  );
}
