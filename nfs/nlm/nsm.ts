/**
 * NSM, the status monitor (program 100024 version 1, XNFS chapter 11), as far as a server's
 * lock manager needs it: peers' statd send SM_NOTIFY here when their host rebooted, and the
 * locks that host held are freed. This is no general statd: nobody else asks it to monitor
 * hosts, so SM_MON answers STAT_FAIL, and SM_STAT reports this server's own state.
 *
 *   struct sm_name { string mon_name<SM_MAXSTRLEN>; };
 *   struct sm_stat_res { res res_stat; int state; };     struct sm_stat { int state; };
 *   struct my_id { string my_name<SM_MAXSTRLEN>; int my_prog; int my_vers; int my_proc; };
 *   struct mon_id { string mon_name<SM_MAXSTRLEN>; struct my_id my_id; };
 *   struct mon { struct mon_id mon_id; opaque priv[16]; };
 *   struct stat_chge { string mon_name<SM_MAXSTRLEN>; int state; };
 */
import { AcceptStat } from "../rpc/constants.ts";
import { procedure, type RpcProgram, VOID_RESULT, voidArgs } from "../rpc/dispatcher.ts";
import { RpcError } from "../rpc/reply.ts";
import type { XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { LM_MAXSTRLEN, NSM_PRIV_BYTES, NSM_PROG, NSM_V1, NsmRes } from "./constants.ts";
import type { NlmService } from "./service.ts";

interface MyId {
  name: string;
  prog: number;
  vers: number;
  proc: number;
}

const readName = (r: XdrReader): string => r.string(LM_MAXSTRLEN);

function readMyId(r: XdrReader): MyId {
  const name = readName(r);
  const prog = r.int32();
  const vers = r.int32();
  return { name, prog, vers, proc: r.int32() };
}

function readMonId(r: XdrReader): { monName: string; myId: MyId } {
  const monName = readName(r);
  return { monName, myId: readMyId(r) };
}

function readMon(r: XdrReader): { monName: string; myId: MyId } {
  const id = readMonId(r);
  r.opaqueFixed(NSM_PRIV_BYTES);
  return id;
}

function readStatChange(r: XdrReader): { monName: string; state: number } {
  const monName = readName(r);
  return { monName, state: r.int32() };
}

export function nsmProgram(nlm: NlmService): RpcProgram {
  const statRes = (res: number) => new XdrWriter(8).enumValue(res).int32(nlm.nsmState);
  const stat = () => new XdrWriter(4).int32(nlm.nsmState);
  return {
    name: "NSM",
    prog: NSM_PROG,
    vers: NSM_V1,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure("STAT", readName, () => statRes(NsmRes.STAT_SUCC)),
      procedure("MON", readMon, () => statRes(NsmRes.STAT_FAIL)),
      procedure("UNMON", readMonId, stat),
      procedure("UNMON_ALL", readMyId, stat),
      procedure("SIMU_CRASH", voidArgs, () => {
        throw new RpcError({ kind: "acceptError", stat: AcceptStat.PROC_UNAVAIL });
      }),
      procedure("NOTIFY", readStatChange, async (_call, change) => {
        if (nlm.isOwnNotice(change.monName, change.state)) return VOID_RESULT;
        // A rebooted host lost its locks: what it held here must not keep others out.
        await nlm.freeAll(change.monName);
        return VOID_RESULT;
      }),
    ],
  };
}
