/**
 * RPC replies (RFC 5531 section 9): reply_body, accepted_reply and rejected_reply, encoded by
 * the server and decoded by clients (tests, and later the NFS test client).
 *
 *   struct rpc_msg { unsigned int xid; msg_type mtype (REPLY); reply_body rbody; }
 *   union reply_body switch (reply_stat stat) { MSG_ACCEPTED: accepted_reply; MSG_DENIED: rejected_reply; }
 *   struct accepted_reply { opaque_auth verf; union switch (accept_stat stat) {
 *       SUCCESS: opaque results[0]; PROG_MISMATCH: { unsigned int low, high }; default: void } }
 *   union rejected_reply switch (reject_stat stat) {
 *       RPC_MISMATCH: { unsigned int low, high }; AUTH_ERROR: auth_stat stat; }
 *
 * Our verifier is always AUTH_NONE: we accept only AUTH_NONE and AUTH_SYS.
 */
import { assert, unreachable } from "../../src/assert.ts";
import { XDR_UNIT_BYTES, XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { AUTH_NONE_EMPTY, type OpaqueAuth, readOpaqueAuth, writeOpaqueAuth } from "./auth.ts";
import {
  AcceptStat,
  AuthStat,
  MsgType,
  RECORD_MARK_BYTES,
  RejectStat,
  ReplyStat,
} from "./constants.ts";
import { recordMark } from "./record.ts";

/** What a procedure returns: its encoded result, or bytes already in XDR. */
export type ReplyBody = XdrWriter | Uint8Array;

/** accept_stat values that carry no data. */
export type AcceptErrorStat =
  | typeof AcceptStat.PROG_UNAVAIL
  | typeof AcceptStat.PROC_UNAVAIL
  | typeof AcceptStat.GARBAGE_ARGS
  | typeof AcceptStat.SYSTEM_ERR;

/** A reply; Body is a ReplyBody when encoding and an XdrReader over the results when decoding. */
export type RpcReply<Body = ReplyBody> =
  | { kind: "success"; body: Body }
  | { kind: "progMismatch"; low: number; high: number }
  | { kind: "acceptError"; stat: AcceptErrorStat }
  | { kind: "rpcMismatch"; low: number; high: number }
  | { kind: "authError"; stat: AuthStat };

export type RpcErrorReply = Exclude<RpcReply, { kind: "success" }>;

/**
 * Thrown by a procedure (or a hook) to answer with an RPC-level error instead of a result:
 * e.g. `throw RpcError.procUnavail()` for a procedure a program does not implement.
 * An XdrError thrown by a procedure becomes GARBAGE_ARGS without this wrapper.
 */
export class RpcError extends Error {
  override name = "RpcError";
  readonly reply: RpcErrorReply;

  constructor(reply: RpcErrorReply, message = `RPC error ${describeReply(reply)}`) {
    super(message);
    this.reply = reply;
  }

  static acceptError(stat: AcceptErrorStat, message?: string): RpcError {
    return new RpcError({ kind: "acceptError", stat }, message);
  }

  static authError(stat: AuthStat, message?: string): RpcError {
    return new RpcError({ kind: "authError", stat }, message);
  }
}

export function describeReply(reply: RpcReply<unknown>): string {
  switch (reply.kind) {
    case "success":
      return "SUCCESS";
    case "progMismatch":
      return `PROG_MISMATCH (${reply.low}..${reply.high})`;
    case "acceptError":
      return nameOf(AcceptStat, reply.stat);
    case "rpcMismatch":
      return `RPC_MISMATCH (${reply.low}..${reply.high})`;
    case "authError":
      return `AUTH_ERROR ${nameOf(AuthStat, reply.stat)}`;
  }
}

function nameOf(table: Record<string, number>, value: number): string {
  return Object.entries(table).find(([, v]) => v === value)?.[0] ?? String(value);
}

/** Writes rpc_msg for a reply: header, then the body of a SUCCESS. */
export function writeReply(writer: XdrWriter, xid: number, reply: RpcReply): void {
  writer.uint32(xid);
  writer.enumValue(MsgType.REPLY);
  if (reply.kind === "rpcMismatch" || reply.kind === "authError") {
    writer.enumValue(ReplyStat.MSG_DENIED);
    if (reply.kind === "rpcMismatch") {
      writer.enumValue(RejectStat.RPC_MISMATCH).uint32(reply.low).uint32(reply.high);
    } else {
      writer.enumValue(RejectStat.AUTH_ERROR).enumValue(reply.stat);
    }
    return;
  }
  writer.enumValue(ReplyStat.MSG_ACCEPTED);
  writeOpaqueAuth(writer, AUTH_NONE_EMPTY);
  switch (reply.kind) {
    case "success":
      writer.enumValue(AcceptStat.SUCCESS);
      if (reply.body instanceof XdrWriter) writer.append(reply.body);
      else writer.raw(reply.body);
      return;
    case "progMismatch":
      writer.enumValue(AcceptStat.PROG_MISMATCH).uint32(reply.low).uint32(reply.high);
      return;
    case "acceptError":
      writer.enumValue(reply.stat);
      return;
    default:
      unreachable(reply);
  }
}

/**
 * Record mark, xid, REPLY, MSG_ACCEPTED, verf AUTH_NONE (flavor, empty body), SUCCESS: what
 * precedes the results of every successful call we answer.
 */
export const SUCCESS_REPLY_HEADER_BYTES = 28;
const SUCCESS_HEADER = new Uint8Array(SUCCESS_REPLY_HEADER_BYTES);
const SUCCESS_HEADER_VIEW = new DataView(SUCCESS_HEADER.buffer);

/**
 * A writer for a procedure's results with room in front for the reply header: the reply
 * is then sent from that one writer (encodeReplyRecord prepends the header), where an
 * ordinary body is copied into a second writer behind the header.
 */
export function resultsWriter(initialBytes = 256): XdrWriter {
  return new XdrWriter(initialBytes, SUCCESS_REPLY_HEADER_BYTES);
}

/** A reply as one record of one last fragment (RFC 5531 section 11), as chunks to write. */
export function encodeReplyRecord(xid: number, reply: RpcReply): Uint8Array[] {
  if (
    reply.kind === "success" &&
    reply.body instanceof XdrWriter &&
    reply.body.headroomFreeBytes >= SUCCESS_REPLY_HEADER_BYTES
  ) {
    return encodeSuccessInPlace(xid, reply.body);
  }
  const writer = new XdrWriter(128);
  writer.uint32(0); // the record mark, patched once the length is known
  writeReply(writer, xid, reply);
  writer.patchUint32(0, recordMark(writer.lengthBytes - RECORD_MARK_BYTES, true));
  return writer.chunks();
}

/** The header of a SUCCESS put in the headroom of its results (resultsWriter): one writer. */
function encodeSuccessInPlace(xid: number, body: XdrWriter): Uint8Array[] {
  const bodyBytes = body.lengthBytes;
  // As append() in the generic path: results that are not XDR are a bug (SYSTEM_ERR).
  assert(bodyBytes % XDR_UNIT_BYTES === 0, "reply body: not a multiple of four bytes");
  const view = SUCCESS_HEADER_VIEW;
  const recordBytes = SUCCESS_REPLY_HEADER_BYTES - RECORD_MARK_BYTES + bodyBytes;
  view.setUint32(0, recordMark(recordBytes, true), false);
  view.setUint32(4, xid, false);
  view.setUint32(8, MsgType.REPLY, false);
  view.setUint32(12, ReplyStat.MSG_ACCEPTED, false);
  view.setUint32(16, AUTH_NONE_EMPTY.flavor, false);
  view.setUint32(20, 0, false); // the verifier's empty body
  view.setUint32(24, AcceptStat.SUCCESS, false);
  body.prepend(SUCCESS_HEADER);
  return body.chunks();
}

/** Decodes a reply record (a client's view). Throws XdrError on a malformed one. */
export function decodeReply(record: Uint8Array): {
  xid: number;
  verf: OpaqueAuth | undefined;
  reply: RpcReply<XdrReader>;
} {
  const reader = new XdrReader(record);
  const xid = reader.uint32();
  reader.enumValue(new Set([MsgType.REPLY]), "msg_type");
  const replyStat = reader.enumValue(
    new Set([ReplyStat.MSG_ACCEPTED, ReplyStat.MSG_DENIED]),
    "reply_stat",
  );
  if (replyStat === ReplyStat.MSG_DENIED) {
    const rejectStat = reader.enumValue(
      new Set([RejectStat.RPC_MISMATCH, RejectStat.AUTH_ERROR]),
      "reject_stat",
    );
    const reply: RpcReply<XdrReader> =
      rejectStat === RejectStat.RPC_MISMATCH
        ? { kind: "rpcMismatch", low: reader.uint32(), high: reader.uint32() }
        : { kind: "authError", stat: reader.uint32() as AuthStat };
    reader.assertConsumed("rejected_reply");
    return { xid, verf: undefined, reply };
  }
  const verf = readOpaqueAuth(reader);
  const acceptStat = reader.enumValue(new Set(Object.values(AcceptStat)), "accept_stat");
  if (acceptStat === AcceptStat.SUCCESS) {
    return { xid, verf, reply: { kind: "success", body: reader } };
  }
  let reply: RpcReply<XdrReader>;
  if (acceptStat === AcceptStat.PROG_MISMATCH) {
    reply = { kind: "progMismatch", low: reader.uint32(), high: reader.uint32() };
  } else {
    reply = { kind: "acceptError", stat: acceptStat };
  }
  reader.assertConsumed("accepted_reply");
  return { xid, verf, reply };
}
