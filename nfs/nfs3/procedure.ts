/**
 * The shape of an NFSv3 procedure and the one wrapper that runs them all.
 *
 * Every result is `union XXX3res switch (nfsstat3 status) { case NFS3_OK: resok; default:
 * resfail; }` (RFC 1813 section 3.3). A procedure writes its resok; on failure the wrapper
 * writes the status and the resfail the procedure declares: a list of post_op_attr and
 * wcc_data of the objects named in the arguments. wcc_data on failure carries the
 * pre-operation attributes the procedure saw (Nfs3Op.resolve records them) and the current
 * ones, so a client can tell whether its caches survived a failed operation.
 *
 * Policy runs first: a client outside --allow gets NFS3ERR_ACCES, a mutation on a --read-only
 * export gets NFS3ERR_ROFS, both with the failure body and no attributes.
 */
import { describeError } from "../../src/errors.ts";
import { log as jfsLog } from "../../src/log.ts";
import { type Procedure, procedure, type RpcLogger } from "../rpc/dispatcher.ts";
import { resultsWriter } from "../rpc/reply.ts";
import type { XdrReader } from "../xdr/reader.ts";
import type { XdrWriter } from "../xdr/writer.ts";
import { NfsStat3 } from "./constants.ts";
import type { Nfs3Op, NfsExport } from "./context.ts";
import { nfsStatName, statusOf } from "./status.ts";
import { writePostOpAttr, writePreOpAttr } from "./types.ts";

/** One piece of a resfail body: the post_op_attr or the wcc_data of the object `fh` names. */
export type FailurePart = { post: Uint8Array } | { wcc: Uint8Array };

export interface Nfs3Procedure<A> {
  /** RFC 1813's name: "GETATTR", "READDIRPLUS" ... */
  name: string;
  /** Changes the file system: refused with NFS3ERR_ROFS on a read-only export. */
  mutates: boolean;
  /** Keeps nothing of its arguments once it answered (see Procedure.recyclesArgs). */
  recyclesArgs?: boolean;
  decode(r: XdrReader): A;
  /** The resfail body after the status, in the RFC's order. */
  failure(args: A): readonly FailurePart[];
  /** Writes the resok body into `w`, which already holds NFS3_OK. Throws FsError/NfsError. */
  run(op: Nfs3Op, args: A, w: XdrWriter): Promise<void>;
}

/** A decoded XXX3res, for clients: `ok` for NFS3_OK, `fail` otherwise. */
export interface Res3<Ok, Fail> {
  status: NfsStat3;
  ok: Ok | undefined;
  fail: Fail | undefined;
}

export function readRes3<Ok, Fail>(
  r: XdrReader,
  readOk: (r: XdrReader) => Ok,
  readFail: (r: XdrReader) => Fail,
): Res3<Ok, Fail> {
  const status = r.uint32() as NfsStat3;
  if (status === NfsStat3.OK) return { status, ok: readOk(r), fail: undefined };
  return { status, ok: undefined, fail: readFail(r) };
}

export interface WrapOptions {
  log?: RpcLogger;
}

/** The RPC procedure that runs `p` for calls to an export. */
export function wrap<A>(exp: NfsExport, p: Nfs3Procedure<A>, options: WrapOptions = {}): Procedure {
  // The shared logger by default, so that --verbose / --quiet apply.
  const log = options.log ?? jfsLog;
  const recycling = { recyclesArgs: p.recyclesArgs === true };
  return procedure(
    p.name,
    p.decode,
    async (call, args) => {
      const op = exp.op(call);
      if (!exp.policy.isAllowed(call.client.address)) {
        return writeFailure(op, NfsStat3.ACCES, p.failure(args), false);
      }
      if (p.mutates && exp.policy.readOnly) {
        return writeFailure(op, NfsStat3.ROFS, p.failure(args), false);
      }
      const w = resultsWriter();
      w.enumValue(NfsStat3.OK);
      try {
        await p.run(op, args, w);
        return w;
      } catch (error) {
        let status = statusOf(error);
        if (status === undefined) {
          // A bug, or an error the VFS should have given an errno: the call fails, not the server.
          log.error(`${p.name} from ${call.client.address}: ${describeError(error)}`, error);
          status = NfsStat3.SERVERFAULT;
        } else {
          log.debug(`${p.name}: ${nfsStatName(status)} (${describeError(error)})`);
        }
        return writeFailure(op, status, p.failure(args), true);
      }
    },
    recycling,
  );
}

async function writeFailure(
  op: Nfs3Op,
  status: NfsStat3,
  parts: readonly FailurePart[],
  withAttributes: boolean,
): Promise<XdrWriter> {
  const w = resultsWriter();
  w.enumValue(status);
  for (const part of parts) {
    const fh = "post" in part ? part.post : part.wcc;
    const found = withAttributes ? await op.postOfHandle(fh) : undefined;
    if ("wcc" in part) writePreOpAttr(w, found === undefined ? undefined : op.pre(found.inode));
    writePostOpAttr(w, found?.after);
  }
  return w;
}
