/**
 * The RPC server over real TCP on 127.0.0.1: golden bytes on the wire, every reply error,
 * out-of-order replies, fragments, half-close, the allow hook, graceful stop.
 * Limits, back-pressure and hostile input are in rpchostile.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { AccessDecision } from "../../../nfs/rpc/connection.ts";
import { AcceptStat, AuthFlavor, AuthStat } from "../../../nfs/rpc/constants.ts";
import type { RpcCall } from "../../../nfs/rpc/dispatcher.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RawConnection, RpcClient, waitFor } from "../rpcclient.ts";
import { PROG, Proc, startServer, VERS } from "./testprogram.ts";

describe("RPC server: replies", () => {
  const { server, lines } = startServer();
  afterAll(() => server.stop());

  test("binds a free port on 127.0.0.1", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.hostname).toBe("127.0.0.1");
  });

  test("golden NULL call and reply bytes on the wire", async () => {
    const raw = await RawConnection.connect(server.port);
    // xid 0x0a0b0c0d, CALL, rpcvers 2, PROG, VERS, proc 0, AUTH_NONE, AUTH_NONE.
    const call =
      "80000028 0a0b0c0d 00000000 00000002 20000101 00000001 00000000 00000000 00000000 00000000 00000000";
    raw.write(Buffer.from(call.replace(/ /g, ""), "hex"));
    const reply = await raw.read(28);
    expect(reply.toString("hex")).toBe(
      "80000018" + "0a0b0c0d" + "00000001" + "00000000" + "0000000000000000" + "00000000",
    );
    raw.terminate();
  });

  test("AUTH_SYS credentials reach the procedure", async () => {
    await using client = await RpcClient.connect(server.port);
    const authSys = { stamp: 7, machineName: "worker-3", uid: 1000, gid: 100, groups: [4, 24, 27] };
    const body = await client.callOk(PROG, VERS, Proc.WHOAMI, undefined, { authSys });
    expect([body.uint32(), body.uint32(), body.uint32()]).toEqual([AuthFlavor.AUTH_SYS, 1000, 100]);
    expect(body.arrayVar(16, (r) => r.uint32())).toEqual([4, 24, 27]);
    expect(body.string(255)).toBe("worker-3");
  });

  test("each error reply", async () => {
    await using client = await RpcClient.connect(server.port);
    const reply = async (...a: Parameters<RpcClient["call"]>) => (await client.call(...a)).reply;
    expect(await reply(0x2000_0999, 1, 0)).toEqual({
      kind: "acceptError",
      stat: AcceptStat.PROG_UNAVAIL,
    });
    expect(await reply(PROG, 7, 0)).toEqual({ kind: "progMismatch", low: 1, high: 1 });
    expect(await reply(PROG, VERS, 99)).toEqual({
      kind: "acceptError",
      stat: AcceptStat.PROC_UNAVAIL,
    });
    const tooLong = new XdrWriter().opaqueVar(Buffer.alloc(2000), 4096);
    expect(await reply(PROG, VERS, Proc.ECHO, tooLong)).toEqual({
      kind: "acceptError",
      stat: AcceptStat.GARBAGE_ARGS,
    });
    lines.length = 0;
    expect(await reply(PROG, VERS, Proc.THROW)).toEqual({
      kind: "acceptError",
      stat: AcceptStat.SYSTEM_ERR,
    });
    expect(lines.join("\n")).toContain("procedure bug");
    const gss = { flavor: AuthFlavor.RPCSEC_GSS, body: Buffer.alloc(8) };
    expect(await reply(PROG, VERS, 0, undefined, { cred: gss })).toEqual({
      kind: "authError",
      stat: AuthStat.AUTH_BADCRED,
    });
    const badSys = { flavor: AuthFlavor.AUTH_SYS, body: Buffer.alloc(8) };
    expect(await reply(PROG, VERS, 0, undefined, { cred: badSys })).toEqual({
      kind: "authError",
      stat: AuthStat.AUTH_BADCRED,
    });
    const longName = { stamp: 0, machineName: "m".repeat(255), uid: 0, gid: 0, groups: [] };
    expect((await reply(PROG, VERS, 0, undefined, { authSys: longName })).kind).toBe("success");
  });

  test("wrong rpcvers is RPC_MISMATCH 2..2", async () => {
    await using client = await RpcClient.connect(server.port);
    const reply = client.expectReply(77);
    client.sendRaw(
      Buffer.from("80000018" + "0000004d" + "00000000" + "00000003" + "0".repeat(24), "hex"),
    );
    expect((await reply).reply).toEqual({ kind: "rpcMismatch", low: 2, high: 2 });
  });

  test("out-of-order replies: a fast call overtakes a slow one on one connection", async () => {
    const { server: s, gate } = startServer();
    await using client = await RpcClient.connect(s.port);
    const order: string[] = [];
    const slow = client.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(1)).then((r) => {
      order.push("slow");
      return r.uint32();
    });
    const fast = client.callOk(PROG, VERS, Proc.NULL).then(() => order.push("fast"));
    await fast;
    expect(order).toEqual(["fast"]);
    gate(1).resolve();
    expect(await slow).toBe(1);
    expect(order).toEqual(["fast", "slow"]);
    await s.stop();
  });

  test("a call split into several fragments, sent in pieces", async () => {
    await using client = await RpcClient.connect(server.port);
    const body = new XdrWriter()
      .uint32(4242)
      .uint32(0)
      .uint32(2)
      .uint32(PROG)
      .uint32(VERS)
      .uint32(Proc.ECHO)
      .uint32(0)
      .uint32(0)
      .uint32(0)
      .uint32(0)
      .opaqueVar(Buffer.from("fragmented"), 64)
      .toBuffer();
    const reply = client.expectReply(4242);
    const cuts = [0, 5, 17, body.length];
    for (let i = 0; i < 3; i++) {
      const part = body.subarray(cuts[i], cuts[i + 1]);
      const mark = (i === 2 ? 0x8000_0000 : 0) + part.length;
      client.sendRaw(new XdrWriter().uint32(mark).toBuffer());
      client.sendRaw(part);
    }
    const { reply: r } = await reply;
    if (r.kind !== "success") throw new Error("expected success");
    expect(r.body.opaqueVar(64).toString()).toBe("fragmented");
  });

  test("calls then FIN: every call is still answered", async () => {
    await using client = await RpcClient.connect(server.port);
    const replies = [1, 2, 3].map(() => client.callOk(PROG, VERS, Proc.NULL));
    client.endWriting();
    await Promise.all(replies);
    await client.closed;
  });
});

describe("RPC server: access hook", () => {
  test("the allow hook decides per call: allow, deny, close", async () => {
    const seen: RpcCall[] = [];
    const allow = (call: RpcCall): AccessDecision => {
      seen.push(call);
      if (call.proc === Proc.ECHO) return { action: "deny", authStat: AuthStat.AUTH_TOOWEAK };
      if (call.proc === Proc.WHOAMI) return { action: "close" };
      if (call.proc === Proc.THROW) throw new Error("policy bug");
      return { action: "allow" };
    };
    const { server } = startServer({ allow });
    await using client = await RpcClient.connect(server.port);
    await client.callOk(PROG, VERS, Proc.NULL);
    expect(seen[0]?.client.address).toBe("127.0.0.1");
    expect(seen[0]?.client.port).toBeGreaterThan(0);
    expect(seen[0]?.localPort).toBe(server.port);
    const echo = new XdrWriter().opaqueVar(Buffer.from("x"), 8);
    expect((await client.call(PROG, VERS, Proc.ECHO, echo)).reply).toEqual({
      kind: "authError",
      stat: AuthStat.AUTH_TOOWEAK,
    });
    // A hook that throws fails closed.
    expect((await client.call(PROG, VERS, Proc.THROW)).reply.kind).toBe("authError");
    await expect(client.call(PROG, VERS, Proc.WHOAMI)).rejects.toThrow(/closed/);
    await server.stop();
  });
});

describe("RPC server: graceful stop", () => {
  test("stop accepting, finish in-flight calls, then close", async () => {
    const { server, gate } = startServer();
    const client = await RpcClient.connect(server.port);
    const slow = client.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(5));
    await waitFor(() => server.stats().inFlight === 1, "the call to start");
    const stopped = server.stop();
    await expect(RpcClient.connect(server.port)).rejects.toThrow();
    gate(5).resolve();
    expect((await slow).uint32()).toBe(5);
    await client.closed;
    await stopped;
  });

  test("a client that never reads is cut after the grace period", async () => {
    const { server } = startServer();
    await using client = await RpcClient.connect(server.port);
    client.pauseReading();
    for (let i = 0; i < 400; i++) {
      void client.call(PROG, VERS, Proc.BIG, new XdrWriter().uint32(64 * 1024)).catch(() => {});
    }
    await waitFor(() => server.stats().paused, "the server to stop reading");
    await server.stop({ graceMs: 50 });
    expect(server.stats().connections).toBe(0);
  });
});
