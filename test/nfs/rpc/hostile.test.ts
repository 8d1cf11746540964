/**
 * The RPC server against clients that misbehave: too many calls in flight, replies never
 * read, too many connections, oversized and garbage records, dropped connections. After each
 * case the server must still answer a valid call on a new connection.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { AUTH_NONE_EMPTY, encodeAuthSys } from "../../../nfs/rpc/auth.ts";
import { writeCallHeader } from "../../../nfs/rpc/call.ts";
import { AcceptStat, AuthStat } from "../../../nfs/rpc/constants.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RPC_IN_FLIGHT_PER_CONNECTION_MAX, RPC_RECORD_BYTES_MAX } from "../../../src/limits.ts";
import { RawConnection, RpcClient, waitFor } from "../rpcclient.ts";
import { expectAlive, PROG, Proc, startServer, VERS } from "./testprogram.ts";

describe("RPC server: limits and back-pressure", () => {
  test("at most RPC_IN_FLIGHT_PER_CONNECTION_MAX calls run per connection", async () => {
    const { server, gate, counters } = startServer();
    await using client = await RpcClient.connect(server.port);
    const total = RPC_IN_FLIGHT_PER_CONNECTION_MAX + 72;
    const replies = Array.from({ length: total }, () =>
      client.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(9)),
    );
    await waitFor(() => counters.started === RPC_IN_FLIGHT_PER_CONNECTION_MAX, "calls to start");
    // A round trip on another connection lets the server read whatever it wanted to read.
    await expectAlive(server);
    expect(counters.started).toBe(RPC_IN_FLIGHT_PER_CONNECTION_MAX);
    expect(server.stats().paused).toBe(true);
    gate(9).resolve();
    await Promise.all(replies);
    expect(counters.finished).toBe(total);
    await server.stop();
  });

  test("10,000 pipelined calls with unread replies keep server memory bounded", async () => {
    const { server, counters } = startServer();
    await using client = await RpcClient.connect(server.port);
    const calls = 10_000;
    const replyBytes = 32 * 1024;
    Bun.gc(true);
    const rssBefore = process.memoryUsage().rss;
    client.pauseReading();
    const replies = Array.from({ length: calls }, () =>
      client.callOk(PROG, VERS, Proc.BIG, new XdrWriter().uint32(replyBytes)),
    );
    const stalled = () => {
      const stats = server.stats();
      return stats.paused && stats.inFlight === RPC_IN_FLIGHT_PER_CONNECTION_MAX;
    };
    await waitFor(stalled, "the server to stop reading");
    await expectAlive(server);
    const stats = server.stats();
    Bun.gc(true);
    const rssGrowthBytes = process.memoryUsage().rss - rssBefore;
    console.log(
      `stalled after ${counters.started} of ${calls} calls; server holds ` +
        `${stats.outputBytes} reply bytes, ${stats.inputBytes} input bytes; ` +
        `RSS +${(rssGrowthBytes / 2 ** 20).toFixed(1)} MiB (unbounded would be ${(calls * replyBytes) / 2 ** 20} MiB)`,
    );
    expect(counters.started).toBeLessThan(calls / 4);
    expect(stats.outputBytes).toBeLessThanOrEqual(
      RPC_IN_FLIGHT_PER_CONNECTION_MAX * (replyBytes + 64),
    );
    expect(stats.inputBytes).toBeLessThan(4 * 1024 * 1024);
    expect(rssGrowthBytes).toBeLessThan(128 * 1024 * 1024);
    client.resumeReading();
    const bodies = await Promise.all(replies);
    expect(bodies.every((b) => b.opaqueVar(replyBytes).length === replyBytes)).toBe(true);
    expect(counters.started).toBe(calls);
    await server.stop();
  }, 60_000);

  test("connections beyond connectionsMax are refused while none is idle", async () => {
    const { server, gate } = startServer({ connectionsMax: 1 });
    await using first = await RpcClient.connect(server.port);
    const busy = first.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(4));
    await waitFor(() => server.stats().inFlight === 1, "the gated call to start");
    const second = await RpcClient.connect(server.port);
    await second.closed;
    gate(4).resolve();
    await busy;
    await first.callOk(PROG, VERS, Proc.NULL);
    await server.stop();
  });
});

describe("RPC server: hostile input", () => {
  const { server, gate, counters } = startServer();
  afterAll(() => server.stop());

  test("a fragment header claiming 2 GiB closes the connection", async () => {
    const raw = await RawConnection.connect(server.port);
    raw.write(Buffer.from("ffffffff", "hex"));
    await raw.closed;
    expect(server.stats().inputBytes).toBe(0);
    await expectAlive(server);
  });

  test("a record above RPC_RECORD_BYTES_MAX in several fragments closes the connection", async () => {
    const raw = await RawConnection.connect(server.port);
    const fragmentBytes = 512 * 1024;
    const header = new XdrWriter().uint32(fragmentBytes).toBuffer();
    for (let sent = 0; sent <= RPC_RECORD_BYTES_MAX; sent += fragmentBytes) {
      raw.write(header);
      raw.write(Buffer.alloc(fragmentBytes));
    }
    raw.write(
      new XdrWriter()
        .uint32(0x8000_0000 + 4)
        .uint32(0)
        .toBuffer(),
    );
    await raw.closed;
    await expectAlive(server);
  });

  test("random bytes", async () => {
    let seed = 0x9e3779b9;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    for (let round = 0; round < 20; round++) {
      const raw = await RawConnection.connect(server.port);
      raw.write(Buffer.from(Array.from({ length: 4096 }, () => random() & 0xff)));
      raw.terminate();
      await raw.closed;
    }
    await expectAlive(server);
  });

  test("garbage records on one connection: answered or ignored, and the connection lives", async () => {
    await using client = await RpcClient.connect(server.port);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 8;
    };
    const cred = encodeAuthSys({ stamp: 1, machineName: "h", uid: 1000, gid: 100, groups: [4] });
    const validWriter = new XdrWriter();
    writeCallHeader(validWriter, {
      xid: 1,
      prog: PROG,
      vers: VERS,
      proc: Proc.ECHO,
      cred,
      verf: AUTH_NONE_EMPTY,
    });
    const valid = validWriter.opaqueVar(Buffer.from("payload"), 64).toBuffer();
    for (let i = 0; i < 500; i++) {
      const mutated = Buffer.from(valid.subarray(0, random() % (valid.length + 1)));
      for (let flips = random() % 4; flips >= 0; flips--) {
        if (mutated.length > 0) mutated[random() % mutated.length] = random() & 0xff;
      }
      if (mutated.length >= 4) mutated.writeUInt32BE(0xffff0000 + i, 0); // nobody waits for it
      client.sendRaw(new XdrWriter().uint32(0x8000_0000 + mutated.length).toBuffer());
      client.sendRaw(mutated);
    }
    await client.callOk(PROG, VERS, Proc.NULL);
    await expectAlive(server);
  });

  test("a truncated record, then FIN", async () => {
    await using client = await RpcClient.connect(server.port);
    client.sendRaw(new XdrWriter().uint32(0x8000_0000 + 100).toBuffer());
    client.sendRaw(Buffer.alloc(50));
    client.endWriting();
    await client.closed;
    await expectAlive(server);
  });

  test("a connection dropped mid-record, and one dropped with a call in flight", async () => {
    const raw = await RawConnection.connect(server.port);
    raw.write(Buffer.from("800000280a0b0c0d000000000000000220000101", "hex"));
    raw.terminate();
    const client = await RpcClient.connect(server.port);
    const startedBefore = counters.started;
    const lost = client.call(PROG, VERS, Proc.GATED, new XdrWriter().uint32(77));
    await waitFor(() => counters.started === startedBefore + 1, "the call to start");
    client.terminate();
    await expect(lost).rejects.toThrow(/closed/);
    gate(77).resolve();
    await waitFor(() => server.stats().connections === 0, "the connection to be forgotten");
    await expectAlive(server);
  });

  test("strings and opaques longer than their max", async () => {
    await using client = await RpcClient.connect(server.port);
    const header = (xid: number) =>
      new XdrWriter().uint32(xid).uint32(0).uint32(2).uint32(PROG).uint32(VERS);
    // ECHO whose opaque claims 1 GiB: refused from the length alone.
    const huge = header(31).uint32(Proc.ECHO).uint32(0).uint32(0).uint32(0).uint32(0);
    huge.uint32(2 ** 30).uint32(0);
    // AUTH_SYS whose machinename is 300 bytes.
    const name = header(32).uint32(0).uint32(1);
    const body = new XdrWriter()
      .uint32(0)
      .opaqueVar(Buffer.alloc(300, 0x61), 300)
      .uint32(0)
      .uint32(0)
      .uint32(0);
    name.opaqueVar(body.toBuffer(), 400).uint32(0).uint32(0);
    const replies = [client.expectReply(31), client.expectReply(32)];
    for (const w of [huge, name]) {
      client.sendRaw(new XdrWriter().uint32(0x8000_0000 + w.lengthBytes).toBuffer());
      client.sendRaw(w.toBuffer());
    }
    const [a, b] = await Promise.all(replies);
    expect(a?.reply).toEqual({ kind: "acceptError", stat: AcceptStat.GARBAGE_ARGS });
    expect(b?.reply).toEqual({ kind: "authError", stat: AuthStat.AUTH_BADCRED });
    await expectAlive(server);
  });
});
