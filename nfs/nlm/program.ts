/**
 * NLM version 4 (program 100021) over an NlmService, on the server's one port.
 *
 * Served: NULL, TEST, LOCK, CANCEL, UNLOCK, NM_LOCK (a LOCK that never blocks, from clients that
 * keep no status monitor) and FREE_ALL. Not served (PROC_UNAVAIL): GRANTED, which is the
 * client's callback, the asynchronous *_MSG / *_RES pairs, which answer by calling the client
 * back (the Linux client uses the synchronous calls), and the DOS share reservations SHARE and
 * UNSHARE; 16 to 19 are unassigned.
 */
import { AcceptStat } from "../rpc/constants.ts";
import {
  type Procedure,
  procedure,
  type RpcProgram,
  VOID_RESULT,
  voidArgs,
} from "../rpc/dispatcher.ts";
import { RpcError } from "../rpc/reply.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { NLM_PROG, NLM_V4, NlmProc } from "./constants.ts";
import type { NlmService } from "./service.ts";
import {
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
  set(
    NlmProc.TEST,
    procedure("TEST", readTestArgs, async (call, a) => {
      const res = await nlm.test(call, a.exclusive, a.lock);
      return encode((w) => writeTestRes(w, { cookie: a.cookie, ...res }));
    }),
  );
  const lock = (name: string, block: boolean | undefined) =>
    procedure(name, readLockArgs, async (call, a) => {
      const stat = await nlm.lock(call, { ...a, block: block ?? a.block });
      return encode((w) => writeRes(w, { cookie: a.cookie, stat }));
    });
  set(NlmProc.LOCK, lock("LOCK", undefined));
  set(
    NlmProc.CANCEL,
    procedure("CANCEL", readCancelArgs, async (call, a) => {
      const stat = await nlm.cancel(call, a.exclusive, a.lock);
      return encode((w) => writeRes(w, { cookie: a.cookie, stat }));
    }),
  );
  set(
    NlmProc.UNLOCK,
    procedure("UNLOCK", readUnlockArgs, async (call, a) => {
      const stat = await nlm.unlock(call, a.lock);
      return encode((w) => writeRes(w, { cookie: a.cookie, stat }));
    }),
  );
  for (const [name, number] of Object.entries(NlmProc)) {
    if (number >= NlmProc.GRANTED && number <= NlmProc.UNSHARE) set(number, unavailable(name));
  }
  for (let number = NlmProc.GRANTED_RES + 1; number < NlmProc.SHARE; number++) {
    set(number, unavailable(`unassigned ${number}`));
  }
  set(NlmProc.NM_LOCK, lock("NM_LOCK", false));
  set(
    NlmProc.FREE_ALL,
    procedure("FREE_ALL", readNotify, async (_call, n) => {
      await nlm.freeAll(n.name);
      return VOID_RESULT;
    }),
  );
  return { name: "NLM", prog: NLM_PROG, vers: NLM_V4, procedures };
}
