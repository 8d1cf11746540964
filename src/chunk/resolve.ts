/**
 * What a chunk's slice list means: slices are applied in list order, each covering
 * [pos, pos + len) of the chunk with bytes [off, off + len) of its stored slice, later ones on
 * top. Id 0 is a hole (zeros); bytes no slice covers are zeros too. Lists are bounded by
 * CHUNK_SLICES_MAX, so the simple sweep here (O(slices x segments)) is enough.
 */
import { assert } from "../assert.ts";
import { CHUNK_BYTES } from "../limits.ts";
import type { Slice } from "../posix.ts";

/** A visible run of a chunk: `len` bytes at chunk position `pos`, from slice `id` at `off`. */
export interface Segment {
  pos: number;
  len: number;
  /** 0 for zeros. */
  id: number;
  /** Stored size of the slice (0 for zeros). */
  size: number;
  off: number;
}

/** The visible segments of [start, end) of a chunk, in order, covering it exactly. */
export function resolveSlices(slices: readonly Slice[], start: number, end: number): Segment[] {
  assert(0 <= start && start <= end && end <= CHUNK_BYTES, `chunk range [${start}, ${end})`);
  let segments: Segment[] = end > start ? [hole(start, end - start)] : [];
  for (const s of slices) {
    const from = Math.max(s.pos, start);
    const to = Math.min(s.pos + s.len, end);
    if (from >= to) continue;
    const top: Segment = {
      pos: from,
      len: to - from,
      id: s.id,
      size: s.size,
      off: s.off + (from - s.pos),
    };
    if (s.id === 0) {
      top.size = 0;
      top.off = 0;
    }
    segments = overlay(segments, top);
  }
  assertCovers(segments, start, end);
  return segments;
}

function hole(pos: number, len: number): Segment {
  return { pos, len, id: 0, size: 0, off: 0 };
}

/** `segments` with `top` laid over them. */
function overlay(segments: readonly Segment[], top: Segment): Segment[] {
  const topEnd = top.pos + top.len;
  const out: Segment[] = [];
  let placed = false;
  for (const seg of segments) {
    const segEnd = seg.pos + seg.len;
    if (segEnd <= top.pos || seg.pos >= topEnd) {
      if (!placed && seg.pos >= topEnd) {
        out.push(top);
        placed = true;
      }
      out.push(seg);
      continue;
    }
    if (seg.pos < top.pos) out.push(cut(seg, seg.pos, top.pos));
    if (!placed) {
      out.push(top);
      placed = true;
    }
    if (segEnd > topEnd) out.push(cut(seg, topEnd, segEnd));
  }
  if (!placed) out.push(top);
  return out;
}

/** The part [from, to) of a segment. */
function cut(seg: Segment, from: number, to: number): Segment {
  assert(seg.pos <= from && from < to && to <= seg.pos + seg.len, "cut within the segment");
  const off = seg.id === 0 ? 0 : seg.off + (from - seg.pos);
  return { pos: from, len: to - from, id: seg.id, size: seg.size, off };
}

function assertCovers(segments: readonly Segment[], start: number, end: number): void {
  let at = start;
  for (const seg of segments) {
    assert(seg.pos === at && seg.len > 0, "segments are contiguous and non-empty");
    assert(seg.id === 0 || seg.off + seg.len <= seg.size, "segment within its slice");
    at += seg.len;
  }
  assert(at === end, "segments cover the range");
}

/** [first, end) of the chunk holding data (non-hole segments), or undefined if none. */
export function dataExtent(
  segments: readonly Segment[],
): { start: number; end: number } | undefined {
  const data = segments.filter((s) => s.id !== 0);
  const first = data[0];
  const last = data[data.length - 1];
  if (first === undefined || last === undefined) return undefined;
  return { start: first.pos, end: last.pos + last.len };
}
