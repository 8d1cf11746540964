/**
 * Calls to a client host's lock services: to its lockd, for the asynchronous NLM messages (a
 * client that sent LOCK_MSG, as macOS and BSD rpc.lockd do, gets its answer as a LOCK_RES call)
 * and for GRANTED when a blocked request got its lock,
 * and to its statd, for SM_NOTIFY after this server restarted. The port comes from the client
 * host's portmapper on port 111; the calls go over TCP, AUTH_NONE, one connection each,
 * bounded by NLM_CALLBACK_TIMEOUT_MS. Best effort, as message passing is in NLM: a client that
 * cannot be reached (behind NAT, firewalled) resends, or does not hear of the restart.
 */
import type { Socket } from "bun";
import { NLM_CALLBACK_TIMEOUT_MS } from "../../src/limits.ts";
import { AUTH_NONE_EMPTY } from "../rpc/auth.ts";
import { writeCallHeader } from "../rpc/call.ts";
import { IPPROTO_TCP, RECORD_MARK_BYTES, RpcProgramNumber } from "../rpc/constants.ts";
import { RecordDecoder, recordMark } from "../rpc/record.ts";
import { decodeReply, describeReply } from "../rpc/reply.ts";
import type { XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { LM_MAXSTRLEN, NLM_PROG, NLM_V4, NSM_PROG, NSM_V1, NsmProc } from "./constants.ts";

const PMAP_VERS = 2;
const PMAPPROC_GETPORT = 3;
/** Replies to these calls are a port number or void: small. */
const REPLY_BYTES_MAX = 4096;

let xidNext = (Math.random() * 0x7fff_ffff) >>> 0;

/** One call on a fresh connection; resolves with the reply's results, rejects on any failure. */
export async function callOnce(
  host: string,
  port: number,
  call: { prog: number; vers: number; proc: number; args: XdrWriter },
): Promise<XdrReader> {
  const xid = xidNext;
  xidNext = (xidNext + 1) >>> 0;
  const w = new XdrWriter();
  w.uint32(0);
  writeCallHeader(w, { xid, ...call, cred: AUTH_NONE_EMPTY, verf: AUTH_NONE_EMPTY });
  w.append(call.args);
  w.patchUint32(0, recordMark(w.lengthBytes - RECORD_MARK_BYTES, true));
  const record = w.toBuffer();
  const { promise, resolve, reject } = Promise.withResolvers<XdrReader>();
  const decoder = new RecordDecoder({ recordBytesMax: REPLY_BYTES_MAX, fragmentsMax: 4 });
  let socket: Socket | undefined;
  const timer = setTimeout(() => {
    reject(new Error(`no answer from ${host}:${port} within ${NLM_CALLBACK_TIMEOUT_MS} ms`));
    socket?.end();
  }, NLM_CALLBACK_TIMEOUT_MS);
  try {
    socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        open(s) {
          s.write(record);
        },
        data(s, chunk) {
          try {
            decoder.push(chunk);
            const reply = decoder.next();
            if (reply === undefined) return;
            const decoded = decodeReply(reply);
            if (decoded.xid !== xid) return;
            if (decoded.reply.kind !== "success") {
              reject(new Error(`${host}:${port} answered ${describeReply(decoded.reply)}`));
            } else resolve(decoded.reply.body);
            s.end();
          } catch (error) {
            reject(error);
            s.end();
          }
        },
        close() {
          reject(new Error(`${host}:${port} closed the connection`));
        },
        error(_s, error) {
          reject(error);
        },
      },
    });
    return await promise;
  } finally {
    clearTimeout(timer);
    socket?.end();
  }
}

/** The TCP port of (prog, vers) on `host`, from its portmapper; 0 when not registered. */
async function getport(host: string, portmapPort: number, prog: number, vers: number) {
  const mapping = new XdrWriter(16).uint32(prog).uint32(vers).uint32(IPPROTO_TCP).uint32(0);
  const getportCall = { prog: RpcProgramNumber.PORTMAP, vers: PMAP_VERS, proc: PMAPPROC_GETPORT };
  return (await callOnce(host, portmapPort, { ...getportCall, args: mapping })).uint32();
}

/**
 * Sends `args` as procedure `proc` of NLM v4 to the lockd of `host`, found through the
 * portmapper on `portmapPort` (111; tests stand a client's on another).
 */
export async function callLockd(
  host: string,
  proc: number,
  args: XdrWriter,
  portmapPort = 111,
): Promise<XdrReader> {
  const port = await getport(host, portmapPort, NLM_PROG, NLM_V4);
  if (port === 0) throw new Error(`${host} has no NLM v4 over TCP registered`);
  return callOnce(host, port, { prog: NLM_PROG, vers: NLM_V4, proc, args });
}

/**
 * SM_NOTIFY to the statd of `host`: the host `monName` restarted and is in NSM state `state`,
 * so the lock manager there reclaims what it held here.
 *   struct stat_chge { string mon_name<SM_MAXSTRLEN>; int state; };
 */
export async function notifyStatd(
  host: string,
  monName: string,
  state: number,
  portmapPort = 111,
): Promise<void> {
  const port = await getport(host, portmapPort, NSM_PROG, NSM_V1);
  if (port === 0) throw new Error(`${host} has no NSM over TCP registered`);
  const args = new XdrWriter(64).string(monName, LM_MAXSTRLEN).int32(state);
  await callOnce(host, port, { prog: NSM_PROG, vers: NSM_V1, proc: NsmProc.NOTIFY, args });
}
