/**
 * NLM version 4 (program 100021) over an NlmService, on the server's one port.
 *
 * Served: NULL, TEST, LOCK, CANCEL, UNLOCK, NM_LOCK (a LOCK that never blocks, from clients that
 * keep no status monitor), FREE_ALL, and the asynchronous TEST_MSG, LOCK_MSG, CANCEL_MSG and
 * UNLOCK_MSG (macOS and BSD lockd send those; Linux the synchronous ones), answered void at
 * once, their result sent as a *_RES call to the client's lockd (callback.ts). Not served
 * (PROC_UNAVAIL): GRANTED and GRANTED_MSG, the client's own procedures (this server calls
 * GRANTED synchronously, so no GRANTED_RES comes back either), the *_RES procedures, which
 * answer only calls it never makes, and the DOS share reservations SHARE and UNSHARE; 16 to
 * 19 are unassigned.
 */
import { AcceptStat } from "../rpc/constants.ts";
import {
  type Procedure,
  procedure,
  type RpcCall,
  type RpcProgram,
  VOID_RESULT,
  voidArgs,
} from "../rpc/dispatcher.ts";
import { RpcError } from "../rpc/reply.ts";
import type { XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { NLM_PROG, NLM_V4, NlmProc } from "./constants.ts";
import type { NlmService } from "./service.ts";
import {
  type Nlm4CancelArgs,
  type Nlm4LockArgs,
  type Nlm4TestArgs,
  type Nlm4UnlockArgs,
  readCancelArgs,
  readLockArgs,
  readNotify,
  readTestArgs,
  readUnlockArgs,
  writeRes,
  writeTestRes,
} from "./types.ts";

const RES_BYTES = 64;

function encode(fill: (w: XdrWriter) => void): XdrWriter {
  const w = new XdrWriter(RES_BYTES);
  fill(w);
  return w;
}

function unavailable(name: string): Procedure {
  return {
    name,
    handler: () => {
      throw new RpcError({ kind: "acceptError", stat: AcceptStat.PROC_UNAVAIL });
    },
  };
}

export function nlmProgram(nlm: NlmService): RpcProgram {
  const procedures: Procedure[] = [];
  const set = (number: number, p: Procedure) => {
    procedures[number] = p;
  };
  set(
    NlmProc.NULL,
    procedure("NULL", voidArgs, () => VOID_RESULT),
  );
  const test = async (call: RpcCall, a: Nlm4TestArgs) => {
    const res = await nlm.test(call, a.exclusive, a.lock);
    return encode((w) => writeTestRes(w, { cookie: a.cookie, ...res }));
  };
  const lock = async (call: RpcCall, a: Nlm4LockArgs, block: boolean) => {
    const stat = await nlm.lock(call, { ...a, block });
    return encode((w) => writeRes(w, { cookie: a.cookie, stat }));
  };
  const cancel = async (call: RpcCall, a: Nlm4CancelArgs) => {
    const stat = await nlm.cancel(call, a.exclusive, a.lock);
    return encode((w) => writeRes(w, { cookie: a.cookie, stat }));
  };
  const unlock = async (call: RpcCall, a: Nlm4UnlockArgs) => {
    const stat = await nlm.unlock(call, a.lock);
    return encode((w) => writeRes(w, { cookie: a.cookie, stat }));
  };
  set(NlmProc.TEST, procedure("TEST", readTestArgs, test));
  set(
    NlmProc.LOCK,
    procedure("LOCK", readLockArgs, (call, a) => lock(call, a, a.block)),
  );
  set(NlmProc.CANCEL, procedure("CANCEL", readCancelArgs, cancel));
  set(NlmProc.UNLOCK, procedure("UNLOCK", readUnlockArgs, unlock));
  for (const [name, number] of Object.entries(NlmProc)) {
    if (number >= NlmProc.GRANTED && number <= NlmProc.UNSHARE) set(number, unavailable(name));
  }
  // The asynchronous forms: answered void now, their result sent as a call to the client's lockd.
  const message = <A>(
    name: string,
    decode: (r: XdrReader) => A,
    resProc: number,
    run: (call: RpcCall, a: A) => Promise<XdrWriter>,
  ) =>
    procedure(name, decode, (call, a) => {
      nlm.answerLater(call, resProc, () => run(call, a));
      return VOID_RESULT;
    });
  set(NlmProc.TEST_MSG, message("TEST_MSG", readTestArgs, NlmProc.TEST_RES, test));
  set(
    NlmProc.LOCK_MSG,
    message("LOCK_MSG", readLockArgs, NlmProc.LOCK_RES, (call, a) => lock(call, a, a.block)),
  );
  set(NlmProc.CANCEL_MSG, message("CANCEL_MSG", readCancelArgs, NlmProc.CANCEL_RES, cancel));
  set(NlmProc.UNLOCK_MSG, message("UNLOCK_MSG", readUnlockArgs, NlmProc.UNLOCK_RES, unlock));
  for (let number = NlmProc.GRANTED_RES + 1; number < NlmProc.SHARE; number++) {
    set(number, unavailable(`unassigned ${number}`));
  }
  set(
    NlmProc.NM_LOCK,
    procedure("NM_LOCK", readLockArgs, (call, a) => lock(call, a, false)),
  );
  set(
    NlmProc.FREE_ALL,
    procedure("FREE_ALL", readNotify, async (_call, n) => {
      await nlm.freeAll(n.name);
      return VOID_RESULT;
    }),
  );
  return { name: "NLM", prog: NLM_PROG, vers: NLM_V4, procedures };
}
