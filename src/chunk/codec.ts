/**
 * Per-block compression, as the volume's `compression` setting says. Each block is compressed on
 * its own so a reader needs only that one object; the key keeps the uncompressed length, which
 * every decode checks (a block that decodes to another length is corrupt, not short).
 */
import { assert } from "../assert.ts";

/** The volume's `compression` setting (Format.compression). */
export type Compression = "none" | "zstd";

/** zstd level 1: JuiceFS's choice too; the data path is bound by throughput, not ratio. */
const ZSTD_LEVEL = 1;

export class BlockCodecError extends Error {
  override name = "BlockCodecError";
}

export interface BlockCodec {
  readonly compression: Compression;
  /** True when a block can only be read whole (no ranged GETs). */
  readonly wholeBlocksOnly: boolean;
  encode(block: Uint8Array): Uint8Array;
  /** The block's `bytes` uncompressed bytes; throws BlockCodecError on corrupt input. */
  decode(stored: Buffer, bytes: number): Buffer;
}

const none: BlockCodec = {
  compression: "none",
  wholeBlocksOnly: false,
  encode: (block) => block,
  decode(stored, bytes) {
    if (stored.length !== bytes) {
      throw new BlockCodecError(`block is ${stored.length} bytes, its key says ${bytes}`);
    }
    return stored;
  },
};

const zstd: BlockCodec = {
  compression: "zstd",
  wholeBlocksOnly: true,
  encode: (block) => Bun.zstdCompressSync(block, { level: ZSTD_LEVEL }),
  decode(stored, bytes) {
    let plain: Buffer;
    try {
      plain = Bun.zstdDecompressSync(stored);
    } catch (error: unknown) {
      throw new BlockCodecError(`cannot decompress block: ${String(error)}`);
    }
    if (plain.length !== bytes) {
      throw new BlockCodecError(
        `block decompresses to ${plain.length} bytes, its key says ${bytes}`,
      );
    }
    return plain;
  },
};

export function blockCodec(compression: Compression): BlockCodec {
  const codec = compression === "zstd" ? zstd : none;
  assert(codec.compression === compression, `unknown compression ${String(compression)}`);
  return codec;
}
