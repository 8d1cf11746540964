/**
 * NLM v4 and NSM on the server's port, spoken by the test's RPC client (the kernel client's
 * run is lockkernel.test.ts): conflicts between two client hosts, TEST's holder, ranges,
 * blocked requests that the resend collects and CANCEL ends, the grace period, SM_NOTIFY and
 * FREE_ALL freeing a rebooted host's locks, the asynchronous *_MSG calls answered by calls to
 * the client's lockd (a stand-in lockd here: no macOS client to run), and malformed or
 * out-of-range requests. Every lock
 * is the VFS's: another node of the volume (a second runtime, as a FUSE mount is) sees it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { NFS_PROG, NFS_V3 } from "../../nfs/nfs3/constants.ts";
import {
  NLM_PROG,
  NLM_V4,
  Nlm4Stat,
  NlmProc,
  NSM_PROG,
  NSM_V1,
  NsmProc,
  NsmRes,
} from "../../nfs/nlm/constants.ts";
import {
  type Nlm4Lock,
  readRes,
  readTestArgs,
  readTestRes,
  writeCancelArgs,
  writeLockArgs,
  writeNotify,
  writeRes,
  writeTestArgs,
  writeUnlockArgs,
} from "../../nfs/nlm/types.ts";
import { PMAP_PROG, PMAP_VERS, PmapProc, portmapProgram } from "../../nfs/portmap/portmap.ts";
import { AcceptStat, AuthStat, IPPROTO_TCP } from "../../nfs/rpc/constants.ts";
import { Dispatcher, type Procedure } from "../../nfs/rpc/dispatcher.ts";
import { RpcServer } from "../../nfs/rpc/server.ts";
import { XdrReader } from "../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../nfs/xdr/writer.ts";
import { LOCK_END, LockType, ROOT_CREDENTIALS } from "../../src/posix.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { type InProcessNfs, makeVolume, quietLog, startNfs, type TestVolume } from "./harness.ts";
import { NfsClient } from "./nfsclient.ts";
import { RpcClient } from "./rpcclient.ts";

let volume: TestVolume;
let nfs: InProcessNfs;
let rpc: RpcClient;
let fh: Buffer;
let other: Runtime;
let otherIno: number;

const AUTH = {
  authSys: { stamp: 1, machineName: "client", uid: 0, gid: 0, groups: [] },
};

beforeAll(async () => {
  volume = await makeVolume();
  nfs = await startNfs(volume);
  await using client = await NfsClient.connect(nfs.port);
  const root = await client.mount("/");
  fh = await client.writeFile(root, "locked", new Uint8Array(100));
  rpc = await RpcClient.connect(nfs.port);
  // Another node of the same volume, with its own session: what a FUSE mount elsewhere is.
  other = await openRuntime(volume.metaUrl, { cacheDir: "memory" }, "other-node");
  otherIno = (await other.vfs.lookup(ROOT_CREDENTIALS, 1, Buffer.from("locked"))).inode;
});

afterAll(async () => {
  await rpc?.close();
  await other?.close();
  await nfs?.stop();
  volume?.[Symbol.dispose]();
});

const lockOf = (callerName: string, svid: number, offset = 0n, len = 0n, file = fh): Nlm4Lock => ({
  callerName,
  fh: file,
  oh: Buffer.from(`${svid}@${callerName}`),
  svid,
  offset,
  len,
});

const cookie = Buffer.from("c00k1e");

async function lock(
  l: Nlm4Lock,
  options: { block?: boolean; exclusive?: boolean; reclaim?: boolean; client?: RpcClient } = {},
) {
  const w = new XdrWriter();
  writeLockArgs(w, {
    cookie,
    block: options.block ?? false,
    exclusive: options.exclusive ?? true,
    lock: l,
    reclaim: options.reclaim ?? false,
    state: 1,
  });
  const body = await (options.client ?? rpc).callOk(NLM_PROG, NLM_V4, NlmProc.LOCK, w, AUTH);
  const res = readRes(body);
  body.assertConsumed();
  expect(res.cookie).toEqual(cookie);
  return res.stat;
}

async function unlock(l: Nlm4Lock, client = rpc) {
  const w = new XdrWriter();
  writeUnlockArgs(w, { cookie, lock: l });
  return readRes(await client.callOk(NLM_PROG, NLM_V4, NlmProc.UNLOCK, w, AUTH)).stat;
}

async function cancel(l: Nlm4Lock) {
  const w = new XdrWriter();
  writeCancelArgs(w, { cookie, block: true, exclusive: true, lock: l });
  return readRes(await rpc.callOk(NLM_PROG, NLM_V4, NlmProc.CANCEL, w, AUTH)).stat;
}

async function testLock(l: Nlm4Lock, exclusive = true, client = rpc) {
  const w = new XdrWriter();
  writeTestArgs(w, { cookie, exclusive, lock: l });
  const body = await client.callOk(NLM_PROG, NLM_V4, NlmProc.TEST, w, AUTH);
  const res = readTestRes(body);
  body.assertConsumed();
  return res;
}

/** What the other node sees for a whole-file write lock. */
const otherSees = () =>
  other.vfs.getlk(ROOT_CREDENTIALS, otherIno, 77n, {
    type: LockType.WRITE,
    start: 0,
    end: LOCK_END,
    pid: 1,
  });

/** Resends a blocked LOCK, as the Linux client does, until it is no longer BLOCKED. */
async function resendUntilSettled(l: Nlm4Lock): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stat = await lock(l, { block: true });
    if (stat !== Nlm4Stat.BLOCKED || Date.now() > deadline) return stat;
    await Bun.sleep(50);
  }
}

describe("NLM v4", () => {
  test("PORTMAP on the server's port lists NLM v4 and NSM v1 on that port", async () => {
    const getport = async (prog: number, vers: number) => {
      const w = new XdrWriter().uint32(prog).uint32(vers).uint32(IPPROTO_TCP).uint32(0);
      return (await rpc.callOk(PMAP_PROG, PMAP_VERS, PmapProc.GETPORT, w)).uint32();
    };
    expect(await getport(NLM_PROG, NLM_V4)).toBe(nfs.port);
    expect(await getport(NSM_PROG, NSM_V1)).toBe(nfs.port);
    (await rpc.callOk(NLM_PROG, NLM_V4, NlmProc.NULL)).assertConsumed();
  });

  test("a lock of one host keeps another host and another node out; UNLOCK lets them in", async () => {
    const a = lockOf("host-a", 1);
    const b = lockOf("host-b", 1);
    expect(await lock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(a)).toBe(Nlm4Stat.GRANTED); // the owner's own lock again
    expect(await lock(b)).toBe(Nlm4Stat.DENIED);
    expect(await testLock(b)).toEqual({
      cookie,
      stat: Nlm4Stat.DENIED,
      holder: { exclusive: true, svid: 1, oh: Buffer.alloc(0), offset: 0n, len: 0n },
    });
    expect((await otherSees()).type).toBe(LockType.WRITE);
    expect(await unlock(a)).toBe(Nlm4Stat.GRANTED);
    expect((await testLock(b)).stat).toBe(Nlm4Stat.GRANTED);
    expect((await otherSees()).type).toBe(LockType.UNLOCK);
  });

  test("the other node's lock denies NLM clients", async () => {
    const whole = { type: LockType.WRITE, start: 0, end: LOCK_END, pid: 4242 };
    await other.vfs.setlk(ROOT_CREDENTIALS, otherIno, 5n, whole, false);
    try {
      expect(await lock(lockOf("host-a", 2))).toBe(Nlm4Stat.DENIED);
      const res = await testLock(lockOf("host-a", 2), false);
      expect(res.holder?.svid).toBe(4242);
    } finally {
      await other.vfs.setlk(
        ROOT_CREDENTIALS,
        otherIno,
        5n,
        { ...whole, type: LockType.UNLOCK },
        false,
      );
    }
    expect(await lock(lockOf("host-a", 2))).toBe(Nlm4Stat.GRANTED);
    expect(await unlock(lockOf("host-a", 2))).toBe(Nlm4Stat.GRANTED);
  });

  test("byte ranges: disjoint ranges coexist, overlapping ones conflict, shared locks share", async () => {
    const a = lockOf("host-a", 3, 0n, 10n);
    const b = lockOf("host-b", 3, 10n, 10n);
    expect(await lock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(b)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-c", 3, 5n, 10n))).toBe(Nlm4Stat.DENIED);
    const res = await testLock(lockOf("host-c", 3, 15n, 1n));
    expect(res.holder).toMatchObject({ offset: 10n, len: 10n });
    expect(await unlock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await unlock(b)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-a", 4), { exclusive: false })).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-b", 4), { exclusive: false })).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-c", 4))).toBe(Nlm4Stat.DENIED);
    expect(await unlock(lockOf("host-a", 4))).toBe(Nlm4Stat.GRANTED);
    expect(await unlock(lockOf("host-b", 4))).toBe(Nlm4Stat.GRANTED);
  });

  test("a blocked LOCK: BLOCKED, then the resend after the release is GRANTED", async () => {
    const a = lockOf("host-a", 5);
    const b = lockOf("host-b", 5);
    expect(await lock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(b, { block: true })).toBe(Nlm4Stat.BLOCKED);
    expect(await lock(b, { block: true })).toBe(Nlm4Stat.BLOCKED);
    expect(nfs.server.nlm.waiting).toBe(1);
    expect(await unlock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await resendUntilSettled(b)).toBe(Nlm4Stat.GRANTED);
    expect(nfs.server.nlm.waiting).toBe(0);
    expect(await lock(a)).toBe(Nlm4Stat.DENIED); // b holds it now
    expect(await unlock(b)).toBe(Nlm4Stat.GRANTED);
  });

  test("CANCEL ends a wait, and gives back a lock the wait already took", async () => {
    const a = lockOf("host-a", 6);
    const b = lockOf("host-b", 6);
    expect(await lock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(b, { block: true })).toBe(Nlm4Stat.BLOCKED);
    expect(await cancel(b)).toBe(Nlm4Stat.GRANTED);
    expect(await cancel(b)).toBe(Nlm4Stat.DENIED); // nothing left to cancel
    expect(await unlock(a)).toBe(Nlm4Stat.GRANTED);
    await Bun.sleep(700); // past the VFS's poll bound: a wait that went on would take it now
    expect((await testLock(lockOf("host-c", 6))).stat).toBe(Nlm4Stat.GRANTED);

    // Granted while nobody resent: CANCEL must not leave b holding it.
    expect(await lock(a)).toBe(Nlm4Stat.GRANTED);
    expect(await lock(b, { block: true })).toBe(Nlm4Stat.BLOCKED);
    expect(await unlock(a)).toBe(Nlm4Stat.GRANTED);
    await Bun.sleep(700);
    expect((await otherSees()).type).toBe(LockType.WRITE); // the wait took it for b
    expect(await cancel(b)).toBe(Nlm4Stat.GRANTED);
    expect((await otherSees()).type).toBe(LockType.UNLOCK);
  });

  test("SM_NOTIFY from a rebooted host, and FREE_ALL, free the locks it held", async () => {
    expect(await lock(lockOf("Host-D", 7, 0n, 1n))).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("Host-D", 8, 5n, 1n))).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-b", 7, 0n, 1n))).toBe(Nlm4Stat.DENIED);
    const notify = new XdrWriter().string("host-d", 1024).int32(3);
    (await rpc.callOk(NSM_PROG, NSM_V1, NsmProc.NOTIFY, notify)).assertConsumed();
    expect(await lock(lockOf("host-b", 7, 0n, 1n))).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-b", 8, 5n, 1n))).toBe(Nlm4Stat.GRANTED);
    expect(await lock(lockOf("host-a", 9, 0n, 1n))).toBe(Nlm4Stat.DENIED);

    // This server's own restart notice, come back through a loopback or NAT address of a
    // client, frees nothing; the same host name with another state is a reboot.
    const self = hostname();
    expect(await lock(lockOf(self, 7, 50n, 1n))).toBe(Nlm4Stat.GRANTED);
    const own = new XdrWriter().string(self, 1024).int32(nfs.server.nlm.nsmState);
    (await rpc.callOk(NSM_PROG, NSM_V1, NsmProc.NOTIFY, own)).assertConsumed();
    expect(await lock(lockOf("host-b", 7, 50n, 1n))).toBe(Nlm4Stat.DENIED);
    const rebooted = new XdrWriter().string(self, 1024).int32(nfs.server.nlm.nsmState + 2);
    (await rpc.callOk(NSM_PROG, NSM_V1, NsmProc.NOTIFY, rebooted)).assertConsumed();
    expect(await lock(lockOf("host-b", 7, 50n, 1n))).toBe(Nlm4Stat.GRANTED);

    const freeAll = new XdrWriter();
    writeNotify(freeAll, { name: "host-b", state: 5 });
    (await rpc.callOk(NLM_PROG, NLM_V4, NlmProc.FREE_ALL, freeAll)).assertConsumed();
    expect(await lock(lockOf("host-a", 9, 0n, 1n))).toBe(Nlm4Stat.GRANTED);
    expect(await unlock(lockOf("host-a", 9, 0n, 1n))).toBe(Nlm4Stat.GRANTED);
  });

  test("NSM: STAT reports an odd state; MON is refused (this is no general statd)", async () => {
    const stat = await rpc.callOk(
      NSM_PROG,
      NSM_V1,
      NsmProc.STAT,
      new XdrWriter().string("x", 1024),
    );
    expect(stat.int32()).toBe(NsmRes.STAT_SUCC);
    expect(stat.int32() % 2).toBe(1);
    const mon = new XdrWriter().string("peer", 1024).string("me", 1024).int32(100021);
    mon.int32(4).int32(16).opaqueFixed(Buffer.alloc(16), 16);
    const res = await rpc.callOk(NSM_PROG, NSM_V1, NsmProc.MON, mon);
    expect(res.int32()).toBe(NsmRes.STAT_FAIL);
  });

  test("bad handles, ranges past the end and malformed calls", async () => {
    const stale = Buffer.from(fh);
    stale.writeUInt32BE(stale.readUInt32BE(28) + 1, 28); // another generation
    expect(await lock({ ...lockOf("host-a", 10), fh: stale })).toBe(Nlm4Stat.STALE_FH);
    expect(await lock({ ...lockOf("host-a", 10), fh: Buffer.from("nonsense") })).toBe(
      Nlm4Stat.STALE_FH,
    );
    expect(await lock(lockOf("host-a", 10, 1n << 60n, 1n))).toBe(Nlm4Stat.FBIG);
    // A range running past the largest offset is to end of file.
    expect(await lock(lockOf("host-a", 10, 100n, (1n << 64n) - 1n))).toBe(Nlm4Stat.GRANTED);
    expect((await testLock(lockOf("host-b", 10, 1n << 50n, 1n))).stat).toBe(Nlm4Stat.DENIED);
    expect(await unlock(lockOf("host-a", 10, 100n, 0n))).toBe(Nlm4Stat.GRANTED);
    expect(await unlock(lockOf("host-a", 10, 100n, 0n))).toBe(Nlm4Stat.GRANTED); // idempotent

    const call = (proc: number, args: XdrWriter | Uint8Array) =>
      rpc.call(NLM_PROG, NLM_V4, proc, args, AUTH).then((r) => r.reply);
    const garbage = { kind: "acceptError", stat: AcceptStat.GARBAGE_ARGS } as const;
    expect(await call(NlmProc.LOCK, new Uint8Array(12))).toEqual(garbage);
    // caller_name of 1025 bytes, one past LM_MAXSTRLEN (written by hand: our writer refuses it).
    const long = new XdrWriter().opaqueVar(cookie, 1024).bool(false).bool(true);
    long.opaqueVar(Buffer.alloc(1025, 0x68), 2048).opaqueVar(fh, 1024).opaqueVar(cookie, 1024);
    long.int32(1).uhyper(0n).uhyper(0n).bool(false).int32(0);
    expect(await call(NlmProc.LOCK, long)).toEqual(garbage);
    const trailing = new XdrWriter();
    writeUnlockArgs(trailing, { cookie, lock: lockOf("host-a", 1) });
    trailing.uint32(0);
    expect(await call(NlmProc.UNLOCK, trailing)).toEqual(garbage);
    const unavailable = { kind: "acceptError", stat: AcceptStat.PROC_UNAVAIL } as const;
    for (const proc of [
      NlmProc.GRANTED,
      NlmProc.GRANTED_MSG,
      NlmProc.LOCK_RES,
      NlmProc.SHARE,
      17,
      24,
    ]) {
      expect(await call(proc, new Uint8Array(0))).toEqual(unavailable);
    }
    expect((await rpc.call(NLM_PROG, 3, 0)).reply).toEqual({
      kind: "progMismatch",
      low: 4,
      high: 4,
    });
  });
});

describe("NLM's grace period and PORTMAP on a second port", () => {
  let graced: InProcessNfs;
  let client: RpcClient;
  let graceFh: Buffer;

  beforeAll(async () => {
    graced = await startNfs(volume, { lockGraceMs: 60_000, portmapPort: 0 });
    await using nfsClient = await NfsClient.connect(graced.port);
    graceFh = await nfsClient.walk(await nfsClient.mount("/"), "locked");
    client = await RpcClient.connect(graced.port);
  });

  afterAll(async () => {
    await client?.close();
    await graced?.stop();
  });

  test("during the grace period only reclaims are granted; after it reclaims are refused", async () => {
    const l = lockOf("host-r", 1, 0n, 0n, graceFh);
    expect(await lock(l, { client })).toBe(Nlm4Stat.DENIED_GRACE_PERIOD);
    expect((await testLock(l, true, client)).stat).toBe(Nlm4Stat.DENIED_GRACE_PERIOD);
    expect(await lock(l, { client, reclaim: true })).toBe(Nlm4Stat.GRANTED);
    // The first server has no grace period: a reclaim there is too late.
    expect(await lock(lockOf("host-r", 2, 200n, 1n), { reclaim: true })).toBe(
      Nlm4Stat.DENIED_GRACE_PERIOD,
    );
    // What the reclaim took is a lock of the volume, seen by the other server.
    expect(await lock(lockOf("host-b", 1, 0n, 1n))).toBe(Nlm4Stat.DENIED);
  });

  test("the PORTMAP-only listener answers the main port for NLM, and serves nothing else", async () => {
    const port = graced.server.portmapPort;
    expect(port).toBeGreaterThan(0);
    await using pm = await RpcClient.connect(port!);
    const w = new XdrWriter().uint32(NLM_PROG).uint32(NLM_V4).uint32(IPPROTO_TCP).uint32(0);
    expect((await pm.callOk(PMAP_PROG, PMAP_VERS, PmapProc.GETPORT, w)).uint32()).toBe(graced.port);
    expect((await pm.call(NFS_PROG, NFS_V3, 0)).reply).toEqual({
      kind: "acceptError",
      stat: AcceptStat.PROG_UNAVAIL,
    });
  });
});

describe("NLM's asynchronous messages (as macOS and BSD lockd send them)", () => {
  // The client's side: a portmapper and an NLM v4 lockd that records the *_RES calls it gets.
  const answers: { proc: number; body: Buffer }[] = [];
  const arrived: Array<() => void> = [];
  let lockd: RpcServer;
  let server: InProcessNfs;
  let msgFh: Buffer;

  beforeAll(async () => {
    const dispatcher = new Dispatcher({ log: quietLog });
    const procedures: Procedure[] = [];
    for (let proc = 0; proc <= NlmProc.GRANTED_RES; proc++) {
      procedures.push({
        name: `proc ${proc}`,
        handler: (_call, args) => {
          const body = Buffer.from(args.rest());
          answers.push({ proc, body });
          for (const wake of arrived.splice(0)) wake();
          if (proc !== NlmProc.GRANTED) return new Uint8Array(0);
          // The client's lockd takes the grant: nlm4_res { cookie, NLM4_GRANTED }.
          const granted = new XdrWriter();
          writeRes(granted, {
            cookie: readTestArgs(new XdrReader(body)).cookie,
            stat: Nlm4Stat.GRANTED,
          });
          return granted;
        },
      });
    }
    dispatcher.register({ name: "client lockd", prog: NLM_PROG, vers: NLM_V4, procedures });
    dispatcher.register(portmapProgram(dispatcher));
    lockd = RpcServer.listen({ dispatcher, log: quietLog });
    server = await startNfs(volume, { callbackPortmapPort: lockd.port });
    await using nfsClient = await NfsClient.connect(server.port);
    msgFh = await nfsClient.walk(await nfsClient.mount("/"), "locked");
  });

  afterAll(async () => {
    await server?.stop();
    await lockd?.stop();
  });

  async function answer(proc: number): Promise<Buffer> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = answers.findIndex((a) => a.proc === proc);
      if (i >= 0) return answers.splice(i, 1)[0]!.body;
      if (Date.now() > deadline) throw new Error(`no call of proc ${proc} came back`);
      await new Promise<void>((resolve) => {
        arrived.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  test("a blocked request that gets its lock is called back with GRANTED, echoing the request", async () => {
    await using client = await RpcClient.connect(server.port);
    const holder = lockOf("host-g", 1, 400n, 10n, msgFh);
    const waiter = lockOf("host-h", 1, 405n, 10n, msgFh);
    expect(await lock(holder, { client })).toBe(Nlm4Stat.GRANTED);
    expect(await lock(waiter, { client, block: true })).toBe(Nlm4Stat.BLOCKED);
    expect(await unlock(holder, client)).toBe(Nlm4Stat.GRANTED);
    const args = readTestArgs(new XdrReader(await answer(NlmProc.GRANTED)));
    expect({ exclusive: args.exclusive, lock: args.lock }).toEqual({
      exclusive: true,
      lock: waiter,
    });
    // The client took it: the server's wait is over and the lock is the client's.
    const deadline = Date.now() + 5000;
    while (server.server.nlm.waiting > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(server.server.nlm.waiting).toBe(0);
    expect((await testLock(lockOf("host-i", 1, 410n, 1n, msgFh), true, client)).holder?.svid).toBe(
      1,
    );
    expect(await unlock(waiter, client)).toBe(Nlm4Stat.GRANTED);
  });

  test("LOCK_MSG, TEST_MSG and UNLOCK_MSG are answered void, then by LOCK_RES, TEST_RES, UNLOCK_RES", async () => {
    await using client = await RpcClient.connect(server.port);
    const m = lockOf("host-m", 1, 0n, 0n, msgFh);
    const send = async (proc: number, w: XdrWriter) => {
      const body = await client.callOk(NLM_PROG, NLM_V4, proc, w, AUTH);
      body.assertConsumed(); // void
    };
    const lockArgs = new XdrWriter();
    writeLockArgs(lockArgs, {
      cookie,
      block: false,
      exclusive: true,
      lock: m,
      reclaim: false,
      state: 1,
    });
    await send(NlmProc.LOCK_MSG, lockArgs);
    expect(readRes(new XdrReader(await answer(NlmProc.LOCK_RES)))).toEqual({
      cookie,
      stat: Nlm4Stat.GRANTED,
    });
    const testArgs = new XdrWriter();
    writeTestArgs(testArgs, { cookie, exclusive: true, lock: lockOf("host-n", 1, 0n, 0n, msgFh) });
    await send(NlmProc.TEST_MSG, testArgs);
    const tested = readTestRes(new XdrReader(await answer(NlmProc.TEST_RES)));
    expect(tested.stat).toBe(Nlm4Stat.DENIED);
    expect(tested.holder?.svid).toBe(1);
    const unlockArgs = new XdrWriter();
    writeUnlockArgs(unlockArgs, { cookie, lock: m });
    await send(NlmProc.UNLOCK_MSG, unlockArgs);
    expect(readRes(new XdrReader(await answer(NlmProc.UNLOCK_RES))).stat).toBe(Nlm4Stat.GRANTED);
    expect((await testLock(lockOf("host-n", 1, 0n, 0n, msgFh), true, client)).stat).toBe(
      Nlm4Stat.GRANTED,
    );
  });
});

test("after a restart, the hosts that held locks are sent SM_NOTIFY; FREE_ALL drops a host", async () => {
  // The client's statd: a portmapper and NSM v1 that records the SM_NOTIFY calls it gets.
  const notices: { monName: string; state: number }[] = [];
  const dispatcher = new Dispatcher({ log: quietLog });
  const unused: Procedure = { name: "unused", handler: () => new Uint8Array(0) };
  const notify: Procedure = {
    name: "NOTIFY",
    handler: (_call, args) => {
      notices.push({ monName: args.string(1024), state: args.int32() });
      return new Uint8Array(0);
    },
  };
  const nsmProcs = [unused, unused, unused, unused, unused, unused, notify];
  dispatcher.register({ name: "client statd", prog: NSM_PROG, vers: NSM_V1, procedures: nsmProcs });
  dispatcher.register(portmapProgram(dispatcher));
  const statd = RpcServer.listen({ dispatcher, log: quietLog });
  const statePath = join(volume.dir, "nlm-state", "hosts.json");
  const options = { callbackPortmapPort: statd.port, statePath, serverName: "jfs-server" };
  try {
    const first = await startNfs(volume, options);
    try {
      await using c = await RpcClient.connect(first.port);
      await using nfsClient = await NfsClient.connect(first.port);
      const f = await nfsClient.walk(await nfsClient.mount("/"), "locked");
      expect(await lock(lockOf("host-s", 1, 300n, 1n, f), { client: c })).toBe(Nlm4Stat.GRANTED);
      await first.server.nlm.flushed();
      expect(JSON.parse(readFileSync(statePath, "utf8"))).toEqual([
        { name: "host-s", address: "127.0.0.1" },
      ]);
      expect(notices).toEqual([]); // the first start had nobody to tell
    } finally {
      await first.stop();
    }
    const second = await startNfs(volume, { ...options, lockGraceMs: 60_000 });
    try {
      const deadline = Date.now() + 10_000;
      while (notices.length === 0 && Date.now() < deadline) await Bun.sleep(20);
      expect(notices).toEqual([{ monName: "jfs-server", state: second.server.nlm.nsmState }]);
      // The host reclaims in the grace period (the clean stop released its lock).
      await using c = await RpcClient.connect(second.port);
      await using nfsClient = await NfsClient.connect(second.port);
      const f = await nfsClient.walk(await nfsClient.mount("/"), "locked");
      const reclaim = { client: c, reclaim: true };
      expect(await lock(lockOf("host-s", 1, 300n, 1n, f), reclaim)).toBe(Nlm4Stat.GRANTED);
      const freeAll = new XdrWriter();
      writeNotify(freeAll, { name: "HOST-S", state: 9 });
      (await c.callOk(NLM_PROG, NLM_V4, NlmProc.FREE_ALL, freeAll)).assertConsumed();
      await second.server.nlm.flushed();
      expect(JSON.parse(readFileSync(statePath, "utf8"))).toEqual([]);
    } finally {
      await second.stop();
    }
  } finally {
    await statd.stop();
  }
});

test("NLM calls from unreserved ports are refused unless --insecure", async () => {
  await using secure = await startNfs(volume, { secure: true });
  await using client = await RpcClient.connect(secure.port);
  const w = new XdrWriter();
  writeLockArgs(w, {
    cookie,
    block: false,
    exclusive: true,
    lock: lockOf("x", 1),
    reclaim: false,
    state: 0,
  });
  const { reply } = await client.call(NLM_PROG, NLM_V4, NlmProc.LOCK, w, AUTH);
  expect(reply).toEqual({ kind: "authError", stat: AuthStat.AUTH_TOOWEAK });
});
