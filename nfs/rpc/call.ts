/**
 * RPC call headers (RFC 5531 section 9):
 *
 *   struct rpc_msg { unsigned int xid; msg_type mtype (CALL); call_body cbody; }
 *   struct call_body { unsigned int rpcvers; unsigned int prog; unsigned int vers;
 *                      unsigned int proc; opaque_auth cred; opaque_auth verf; }
 *
 * and the procedure's arguments follow, up to the end of the record.
 *
 * Decoding a record gives one of three outcomes:
 * - "call": a header we accept, with its credentials and a reader positioned at the arguments;
 * - "reject": a header we can answer only with an error reply (wrong rpcvers, bad auth);
 * - "ignore": nothing to answer: too short to hold the fixed header (there is nobody to answer
 *   reliably, and a fabricated reply could match an unrelated xid), or not a CALL at all.
 */
import { XdrError } from "../xdr/error.ts";
import { XdrReader } from "../xdr/reader.ts";
import type { XdrWriter } from "../xdr/writer.ts";
import {
  type OpaqueAuth,
  parseCredentials,
  type RpcCredentials,
  readOpaqueAuth,
  writeOpaqueAuth,
} from "./auth.ts";
import { AuthStat, MsgType, RPC_VERSION } from "./constants.ts";
import type { RpcReply } from "./reply.ts";

/** The fixed part of a call, as a client writes it. */
export interface CallHeader {
  /** unsigned int xid: chosen by the client, echoed in the reply. */
  xid: number;
  /** unsigned int prog, vers, proc: what to run. */
  prog: number;
  vers: number;
  proc: number;
  cred: OpaqueAuth;
  verf: OpaqueAuth;
}

export type DecodedCall =
  | {
      kind: "call";
      xid: number;
      prog: number;
      vers: number;
      proc: number;
      credentials: RpcCredentials;
      /** Positioned at the procedure's arguments, which end where the record ends. */
      args: XdrReader;
    }
  | { kind: "reject"; xid: number; reply: RpcReply }
  | { kind: "ignore"; reason: string };

export function decodeCall(record: Uint8Array): DecodedCall {
  const reader = new XdrReader(record);
  let xid: number;
  let prog: number;
  let vers: number;
  let proc: number;
  try {
    xid = reader.uint32();
    const msgType = reader.uint32();
    if (msgType !== MsgType.CALL) return { kind: "ignore", reason: `msg_type ${msgType}` };
    const rpcVersion = reader.uint32();
    // Checked before anything else: another RPC version may lay the rest out differently.
    if (rpcVersion !== RPC_VERSION) {
      return {
        kind: "reject",
        xid,
        reply: { kind: "rpcMismatch", low: RPC_VERSION, high: RPC_VERSION },
      };
    }
    prog = reader.uint32();
    vers = reader.uint32();
    proc = reader.uint32();
  } catch (error) {
    if (error instanceof XdrError) return { kind: "ignore", reason: error.message };
    throw error;
  }
  const cred = readAuthOr(reader);
  if (cred === undefined) return authError(xid, AuthStat.AUTH_BADCRED);
  const verf = readAuthOr(reader);
  if (verf === undefined) return authError(xid, AuthStat.AUTH_BADVERF);
  const parsed = parseCredentials(cred, verf);
  if (!parsed.ok) return authError(xid, parsed.authStat);
  return { kind: "call", xid, prog, vers, proc, credentials: parsed.credentials, args: reader };
}

/** An opaque_auth, or undefined if it is truncated or its body is above 400 bytes. */
function readAuthOr(reader: XdrReader): OpaqueAuth | undefined {
  try {
    return readOpaqueAuth(reader);
  } catch (error) {
    if (error instanceof XdrError) return undefined;
    throw error;
  }
}

function authError(xid: number, stat: AuthStat): DecodedCall {
  return { kind: "reject", xid, reply: { kind: "authError", stat } };
}

/** Writes a call header; the caller appends the arguments (a client's side). */
export function writeCallHeader(writer: XdrWriter, header: CallHeader): void {
  writer.uint32(header.xid);
  writer.enumValue(MsgType.CALL);
  writer.uint32(RPC_VERSION);
  writer.uint32(header.prog);
  writer.uint32(header.vers);
  writer.uint32(header.proc);
  writeOpaqueAuth(writer, header.cred);
  writeOpaqueAuth(writer, header.verf);
}
