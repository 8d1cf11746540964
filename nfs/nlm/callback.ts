/**
 * Calls back to a client's lock manager, for the asynchronous NLM messages: a client that sent
 * LOCK_MSG (macOS and BSD rpc.lockd do) gets its answer as a LOCK_RES call to its own lockd.
 * The lockd's port comes from the client host's portmapper on port 111; both calls go over
 * TCP, AUTH_NONE, one connection each, bounded by NLM_CALLBACK_TIMEOUT_MS. Best effort, as
 * message passing is in NLM: a client that cannot be reached (behind NAT, firewalled) resends.
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
import { NLM_PROG, NLM_V4 } from "./constants.ts";

const PMAP_VERS = 2;
const PMAPPROC_GETPORT = 3;
/** Replies to these calls are a port number or void: small. */
const REPLY_BYTES_MAX = 4096;

let xidNext = (Math.random() * 0x7fff_ffff) >>> 0;

/** One call on a fresh connection; resolves with the reply's results, rejects on any failure. */
async function callOnce(
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

/**
 * Sends `args` as procedure `proc` of NLM v4 to the lockd of `host`, found through the
 * portmapper on `portmapPort` (111; tests stand a client's on another).
 */
export async function callLockd(
  host: string,
  proc: number,
  args: XdrWriter,
  portmapPort = 111,
): Promise<void> {
  const nlm = { prog: NLM_PROG, vers: NLM_V4 };
  const mapping = new XdrWriter(16).uint32(nlm.prog).uint32(nlm.vers).uint32(IPPROTO_TCP);
  mapping.uint32(0);
  const getport = { prog: RpcProgramNumber.PORTMAP, vers: PMAP_VERS, proc: PMAPPROC_GETPORT };
  const port = (await callOnce(host, portmapPort, { ...getport, args: mapping })).uint32();
  if (port === 0) throw new Error(`${host} has no NLM v4 over TCP registered`);
  await callOnce(host, port, { ...nlm, proc, args });
}
