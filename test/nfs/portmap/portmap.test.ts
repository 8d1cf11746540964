/**
 * PORTMAP v2 (RFC 1833) on the shared RPC port, with stand-ins for MOUNT v3 and NFS v3 (the
 * real ones register the same way). Also probed with the system's rpcinfo when installed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  PMAP_DUMP_ENTRIES_MAX,
  PMAP_PROG,
  PMAP_VERS,
  PmapProc,
  portmapProgram,
  readMapping,
  writeMapping,
} from "../../../nfs/portmap/portmap.ts";
import {
  AcceptStat,
  IPPROTO_TCP,
  IPPROTO_UDP,
  RpcProgramNumber,
} from "../../../nfs/rpc/constants.ts";
import {
  Dispatcher,
  procedure,
  type RpcLogger,
  VOID_RESULT,
  voidArgs,
} from "../../../nfs/rpc/dispatcher.ts";
import { RpcServer } from "../../../nfs/rpc/server.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RawConnection, RpcClient } from "../rpcclient.ts";

const silent = () => {};
const log: RpcLogger = { error: silent, warn: silent, info: silent, debug: silent };

function stub(name: string, prog: number, vers: number) {
  return { name, prog, vers, procedures: [procedure("NULL", voidArgs, () => VOID_RESULT)] };
}

const dispatcher = new Dispatcher({ log });
dispatcher.register(portmapProgram(dispatcher));
dispatcher.register(stub("MOUNT", RpcProgramNumber.MOUNT, 3));
dispatcher.register(stub("NFS", RpcProgramNumber.NFS, 3));
const server = RpcServer.listen({ dispatcher, log });
afterAll(() => server.stop());

const mapping = (prog: number, vers: number, prot: number) =>
  new XdrWriter().uint32(prog).uint32(vers).uint32(prot).uint32(0);

describe("PORTMAP v2", () => {
  test("NULL", async () => {
    await using client = await RpcClient.connect(server.port);
    const body = await client.callOk(PMAP_PROG, PMAP_VERS, PmapProc.NULL);
    body.assertConsumed();
  });

  test("GETPORT answers our port for registered programs over TCP, 0 otherwise", async () => {
    await using client = await RpcClient.connect(server.port);
    const getport = async (prog: number, vers: number, prot: number) => {
      const body = await client.callOk(
        PMAP_PROG,
        PMAP_VERS,
        PmapProc.GETPORT,
        mapping(prog, vers, prot),
      );
      const port = body.uint32();
      body.assertConsumed();
      return port;
    };
    expect(await getport(RpcProgramNumber.NFS, 3, IPPROTO_TCP)).toBe(server.port);
    expect(await getport(RpcProgramNumber.MOUNT, 3, IPPROTO_TCP)).toBe(server.port);
    expect(await getport(PMAP_PROG, PMAP_VERS, IPPROTO_TCP)).toBe(server.port);
    expect(await getport(RpcProgramNumber.NFS, 3, IPPROTO_UDP)).toBe(0);
    expect(await getport(100_021, 4, IPPROTO_TCP)).toBe(0); // NLM: not served
    // Another version of a registered program: the port, and the program says PROG_MISMATCH.
    expect(await getport(RpcProgramNumber.NFS, 4, IPPROTO_TCP)).toBe(server.port);
    expect((await client.call(RpcProgramNumber.NFS, 4, 0)).reply).toEqual({
      kind: "progMismatch",
      low: 3,
      high: 3,
    });
  });

  test("golden GETPORT bytes", async () => {
    const raw = await RawConnection.connect(server.port);
    // xid 0x11, CALL, rpcvers 2, prog 100000, vers 2, proc 3, AUTH_NONE x2,
    // mapping { 100005, 3, 6, 0 }: 56 bytes.
    const call =
      "80000038 00000011 00000000 00000002 000186a0 00000002 00000003" +
      " 00000000 00000000 00000000 00000000 000186a5 00000003 00000006 00000000";
    raw.write(Buffer.from(call.replace(/ /g, ""), "hex"));
    const port = server.port.toString(16).padStart(8, "0");
    expect((await raw.read(32)).toString("hex")).toBe(
      "8000001c" + "00000011" + "00000001" + "00000000" + "0000000000000000" + "00000000" + port,
    );
    raw.terminate();
  });

  test("DUMP lists every registered program over TCP on our port", async () => {
    await using client = await RpcClient.connect(server.port);
    const body = await client.callOk(PMAP_PROG, PMAP_VERS, PmapProc.DUMP);
    const entries = body.list(PMAP_DUMP_ENTRIES_MAX, readMapping);
    body.assertConsumed();
    const p = server.port;
    expect(entries).toEqual([
      { prog: PMAP_PROG, vers: 2, prot: IPPROTO_TCP, port: p },
      { prog: RpcProgramNumber.MOUNT, vers: 3, prot: IPPROTO_TCP, port: p },
      { prog: RpcProgramNumber.NFS, vers: 3, prot: IPPROTO_TCP, port: p },
    ]);
  });

  test("SET and UNSET are refused; CALLIT is not offered", async () => {
    await using client = await RpcClient.connect(server.port);
    const m = new XdrWriter();
    writeMapping(m, { prog: 200_000, vers: 1, prot: IPPROTO_TCP, port: 1234 });
    for (const proc of [PmapProc.SET, PmapProc.UNSET]) {
      const body = await client.callOk(PMAP_PROG, PMAP_VERS, proc, m);
      expect(body.bool()).toBe(false);
    }
    expect((await client.call(PMAP_PROG, PMAP_VERS, PmapProc.CALLIT)).reply).toEqual({
      kind: "acceptError",
      stat: AcceptStat.PROC_UNAVAIL,
    });
    // A truncated mapping is garbage.
    expect(
      (await client.call(PMAP_PROG, PMAP_VERS, PmapProc.GETPORT, new XdrWriter().uint32(1))).reply,
    ).toEqual({
      kind: "acceptError",
      stat: AcceptStat.GARBAGE_ARGS,
    });
  });

  test("rpcbind versions 3 and 4 get PROG_MISMATCH 2..2", async () => {
    await using client = await RpcClient.connect(server.port);
    for (const vers of [3, 4]) {
      expect((await client.call(PMAP_PROG, vers, 0)).reply).toEqual({
        kind: "progMismatch",
        low: 2,
        high: 2,
      });
    }
  });
});

const rpcinfo = Bun.which("rpcinfo") ?? Bun.which("rpcinfo", { PATH: "/usr/sbin:/sbin" });

describe.skipIf(rpcinfo === null)("rpcinfo (Debian rpcbind) against our port", () => {
  // -a with a universal address (RFC 5665: h1.h2.h3.h4.p1.p2) talks to our port only; with
  // -n PORT instead, this rpcinfo still asks a portmapper on port 111 first.
  const address = `127.0.0.1.${server.port >> 8}.${server.port & 0xff}`;
  const probe = async (...args: string[]) => {
    const child = Bun.spawn([rpcinfo!, "-T", "tcp", "-a", address, ...args], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { out: stdout + stderr, code };
  };

  test("NULL of portmap v2", async () => {
    const { out, code } = await probe(String(PMAP_PROG), String(PMAP_VERS));
    expect(out).toContain("program 100000 version 2 ready and waiting");
    expect(code).toBe(0);
  });

  test("without a version, rpcinfo finds the range through PROG_MISMATCH", async () => {
    const { out, code } = await probe(String(RpcProgramNumber.MOUNT));
    expect(out).toContain("program 100005 version 3 ready and waiting");
    expect(code).toBe(0);
  });

  test("an unregistered program", async () => {
    const { out, code } = await probe("100021", "4");
    expect(out).toContain("program 100021 version 4 is not available");
    expect(code).not.toBe(0);
  });
});
