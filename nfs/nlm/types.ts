/**
 * XDR of NLM version 4 (XNFS chapter 10 / RFC 1813 appendix II), both ways: the server decodes
 * arguments and encodes results, tests encode arguments and decode results with the same code.
 *
 *   struct nlm4_lock { string caller_name<LM_MAXSTRLEN>; netobj fh; netobj oh; int32 svid;
 *                      uint64 l_offset; uint64 l_len; };          (l_len 0: to end of file)
 *   struct nlm4_lockargs { netobj cookie; bool block; bool exclusive; nlm4_lock alock;
 *                          bool reclaim; int32 state; };
 *   struct nlm4_cancargs { netobj cookie; bool block; bool exclusive; nlm4_lock alock; };
 *   struct nlm4_testargs { netobj cookie; bool exclusive; nlm4_lock alock; };
 *   struct nlm4_unlockargs { netobj cookie; nlm4_lock alock; };
 *   struct nlm4_res { netobj cookie; nlm4_stats stat; };
 *   struct nlm4_holder { bool exclusive; int32 svid; netobj oh; uint64 l_offset; uint64 l_len; };
 *   struct nlm4_testres { netobj cookie; union switch (nlm4_stats stat) {
 *                           case NLM4_DENIED: nlm4_holder holder; default: void; } };
 *   struct nlm4_notify { string name<MAXNAMELEN>; int32 state; };  (FREE_ALL)
 */
import type { XdrReader } from "../xdr/reader.ts";
import type { XdrWriter } from "../xdr/writer.ts";
import { LM_MAXSTRLEN, NETOBJ_BYTES_MAX, Nlm4Stat } from "./constants.ts";

export interface Nlm4Lock {
  callerName: string;
  fh: Buffer;
  oh: Buffer;
  svid: number;
  offset: bigint;
  len: bigint;
}

export interface Nlm4LockArgs {
  cookie: Buffer;
  block: boolean;
  exclusive: boolean;
  lock: Nlm4Lock;
  reclaim: boolean;
  state: number;
}

export interface Nlm4CancelArgs {
  cookie: Buffer;
  block: boolean;
  exclusive: boolean;
  lock: Nlm4Lock;
}

export interface Nlm4TestArgs {
  cookie: Buffer;
  exclusive: boolean;
  lock: Nlm4Lock;
}

export interface Nlm4UnlockArgs {
  cookie: Buffer;
  lock: Nlm4Lock;
}

export interface Nlm4Holder {
  exclusive: boolean;
  svid: number;
  oh: Buffer;
  offset: bigint;
  len: bigint;
}

export interface Nlm4TestRes {
  cookie: Buffer;
  stat: Nlm4Stat;
  holder?: Nlm4Holder;
}

export interface Nlm4Res {
  cookie: Buffer;
  stat: Nlm4Stat;
}

export interface Nlm4Notify {
  name: string;
  state: number;
}

const STATS: ReadonlySet<Nlm4Stat> = new Set(Object.values(Nlm4Stat));

const netobj = (r: XdrReader): Buffer => Buffer.from(r.opaqueVar(NETOBJ_BYTES_MAX));

export function readNlm4Lock(r: XdrReader): Nlm4Lock {
  const callerName = r.string(LM_MAXSTRLEN);
  const fh = netobj(r);
  const oh = netobj(r);
  const svid = r.int32();
  const offset = r.uhyper();
  const len = r.uhyper();
  return { callerName, fh, oh, svid, offset, len };
}

export function writeNlm4Lock(w: XdrWriter, l: Nlm4Lock): void {
  w.string(l.callerName, LM_MAXSTRLEN).opaqueVar(l.fh, NETOBJ_BYTES_MAX);
  w.opaqueVar(l.oh, NETOBJ_BYTES_MAX).int32(l.svid).uhyper(l.offset).uhyper(l.len);
}

export function readLockArgs(r: XdrReader): Nlm4LockArgs {
  const cookie = netobj(r);
  const block = r.bool();
  const exclusive = r.bool();
  const lock = readNlm4Lock(r);
  const reclaim = r.bool();
  const state = r.int32();
  return { cookie, block, exclusive, lock, reclaim, state };
}

export function writeLockArgs(w: XdrWriter, a: Nlm4LockArgs): void {
  w.opaqueVar(a.cookie, NETOBJ_BYTES_MAX).bool(a.block).bool(a.exclusive);
  writeNlm4Lock(w, a.lock);
  w.bool(a.reclaim).int32(a.state);
}

export function readCancelArgs(r: XdrReader): Nlm4CancelArgs {
  const cookie = netobj(r);
  const block = r.bool();
  const exclusive = r.bool();
  return { cookie, block, exclusive, lock: readNlm4Lock(r) };
}

export function writeCancelArgs(w: XdrWriter, a: Nlm4CancelArgs): void {
  w.opaqueVar(a.cookie, NETOBJ_BYTES_MAX).bool(a.block).bool(a.exclusive);
  writeNlm4Lock(w, a.lock);
}

export function readTestArgs(r: XdrReader): Nlm4TestArgs {
  const cookie = netobj(r);
  const exclusive = r.bool();
  return { cookie, exclusive, lock: readNlm4Lock(r) };
}

export function writeTestArgs(w: XdrWriter, a: Nlm4TestArgs): void {
  w.opaqueVar(a.cookie, NETOBJ_BYTES_MAX).bool(a.exclusive);
  writeNlm4Lock(w, a.lock);
}

export function readUnlockArgs(r: XdrReader): Nlm4UnlockArgs {
  const cookie = netobj(r);
  return { cookie, lock: readNlm4Lock(r) };
}

export function writeUnlockArgs(w: XdrWriter, a: Nlm4UnlockArgs): void {
  w.opaqueVar(a.cookie, NETOBJ_BYTES_MAX);
  writeNlm4Lock(w, a.lock);
}

export function readNotify(r: XdrReader): Nlm4Notify {
  const name = r.string(LM_MAXSTRLEN);
  return { name, state: r.int32() };
}

export function writeNotify(w: XdrWriter, n: Nlm4Notify): void {
  w.string(n.name, LM_MAXSTRLEN).int32(n.state);
}

export function writeRes(w: XdrWriter, res: Nlm4Res): void {
  w.opaqueVar(res.cookie, NETOBJ_BYTES_MAX).enumValue(res.stat);
}

export function readRes(r: XdrReader): Nlm4Res {
  const cookie = netobj(r);
  return { cookie, stat: r.enumValue(STATS, "nlm4_stats") };
}

export function writeTestRes(w: XdrWriter, res: Nlm4TestRes): void {
  w.opaqueVar(res.cookie, NETOBJ_BYTES_MAX).enumValue(res.stat);
  if (res.stat !== Nlm4Stat.DENIED) return;
  const h = res.holder;
  if (h === undefined) throw new Error("NLM4_DENIED test result without a holder");
  w.bool(h.exclusive).int32(h.svid).opaqueVar(h.oh, NETOBJ_BYTES_MAX).uhyper(h.offset);
  w.uhyper(h.len);
}

export function readTestRes(r: XdrReader): Nlm4TestRes {
  const cookie = netobj(r);
  const stat = r.enumValue(STATS, "nlm4_stats");
  if (stat !== Nlm4Stat.DENIED) return { cookie, stat };
  const exclusive = r.bool();
  const svid = r.int32();
  const oh = netobj(r);
  const offset = r.uhyper();
  const len = r.uhyper();
  return { cookie, stat, holder: { exclusive, svid, oh, offset, len } };
}
