/**
 * Procedure 1: GETATTR (RFC 1813 section 3.3.1).
 *
 *   struct GETATTR3args { nfs_fh3 object; };
 *   struct GETATTR3resok { fattr3 obj_attributes; };   resfail: void
 */
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { type Fattr3, readFattr3, readFh3, writeFattr3, writeFh3 } from "../types.ts";

export interface GetattrArgs {
  object: Buffer;
}

export function writeGetattrArgs(w: XdrWriter, a: GetattrArgs): void {
  writeFh3(w, a.object);
}

export function readGetattrRes(r: XdrReader): Res3<Fattr3, undefined> {
  return readRes3(r, readFattr3, () => undefined);
}

export const GETATTR: Nfs3Procedure<GetattrArgs> = {
  name: "GETATTR",
  mutates: false,
  decode: (r) => ({ object: readFh3(r) }),
  failure: () => [],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.object);
    writeFattr3(w, op.fattr(inode, attr));
  },
};
