/**
 * Procedure 20: PATHCONF (RFC 1813 section 3.3.20).
 *
 *   struct PATHCONF3args { nfs_fh3 object; };
 *   struct PATHCONF3resok { post_op_attr obj_attributes; uint32 linkmax; uint32 name_max;
 *     bool no_trunc; bool chown_restricted; bool case_insensitive; bool case_preserving; };
 *   struct PATHCONF3resfail { post_op_attr obj_attributes; };
 *
 * Long names are refused, not cut (no_trunc); only root gives files away (chown_restricted).
 */
import { NAME_BYTES_MAX, NLINK_MAX } from "../../../src/limits.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { type Fattr3, readFh3, readPostOpAttr, writeFh3, writePostOpAttr } from "../types.ts";

export interface PathconfOk {
  attributes: Fattr3 | undefined;
  linkmax: number;
  nameMax: number;
  noTrunc: boolean;
  chownRestricted: boolean;
  caseInsensitive: boolean;
  casePreserving: boolean;
}

export function writePathconfArgs(w: XdrWriter, object: Buffer): void {
  writeFh3(w, object);
}

export function readPathconfRes(r: XdrReader): Res3<PathconfOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const attributes = readPostOpAttr(x);
      const linkmax = x.uint32();
      const nameMax = x.uint32();
      const [noTrunc, chownRestricted, caseInsensitive, casePreserving] = [
        x.bool(),
        x.bool(),
        x.bool(),
        x.bool(),
      ];
      return {
        attributes,
        ...{ linkmax, nameMax, noTrunc, chownRestricted, caseInsensitive, casePreserving },
      };
    },
    readPostOpAttr,
  );
}

export const PATHCONF: Nfs3Procedure<{ object: Buffer }> = {
  name: "PATHCONF",
  mutates: false,
  decode: (r) => ({ object: readFh3(r) }),
  failure: (a) => [{ post: a.object }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.object);
    writePostOpAttr(w, op.fattr(inode, attr));
    w.uint32(NLINK_MAX).uint32(NAME_BYTES_MAX);
    w.bool(true).bool(true).bool(false).bool(true);
  },
};
