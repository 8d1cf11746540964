/**
 * What a connection may hold, for how long, and how many there are: the server-wide budget of
 * held bytes (with its reserve for connections holding nothing), idle and stall timers, and
 * eviction of the idlest connection at connectionsMax. Timers are shortened through the server's
 * options; every bound waited for is generous, the machine is noisy.
 */
import { describe, expect, test } from "bun:test";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RPC_RECORD_BYTES_MAX } from "../../../src/limits.ts";
import { closedAtConnect, RawConnection, RpcClient, settlesWithin, waitFor } from "../rpcclient.ts";
import { expectAlive, PROG, Proc, startServer, VERS } from "./testprogram.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

function sinkArgs(gateId: number, payloadBytes: number): XdrWriter {
  return new XdrWriter().uint32(gateId).opaqueVar(Buffer.alloc(payloadBytes, 0x33), MiB + 4);
}

describe("RPC server: idle and stall timers", () => {
  test("an idle connection is closed after idleTimeoutMs; one with a call in flight is not", async () => {
    const { server, gate } = startServer({ idleTimeoutMs: 300 });
    const idle = await RpcClient.connect(server.port);
    await idle.callOk(PROG, VERS, Proc.NULL);
    await using busy = await RpcClient.connect(server.port);
    const reply = busy.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(1));
    expect(await settlesWithin(idle.closed, 10_000)).toBe(true);
    // The busy one outlived several idle timeouts; its reply still arrives.
    expect(busy.isClosed).toBe(false);
    gate(1).resolve();
    expect((await reply).uint32()).toBe(1);
    await server.stop();
  });

  test("idleTimeoutMs 0 never closes", async () => {
    const { server } = startServer({ idleTimeoutMs: 0, stallMs: 50 });
    await using client = await RpcClient.connect(server.port);
    await client.callOk(PROG, VERS, Proc.NULL);
    expect(await settlesWithin(client.closed, 500)).toBe(false);
    await client.callOk(PROG, VERS, Proc.NULL);
    await server.stop();
  });

  test("a record stalled mid-way, or half a fragment header, is dropped after stallMs", async () => {
    const { server, lines } = startServer({ stallMs: 300, idleTimeoutMs: 0 });
    const midRecord = await RawConnection.connect(server.port);
    // A header promising 100 bytes, then 10 of them.
    midRecord.write(
      Buffer.concat([new XdrWriter().uint32(0x8000_0064).toBuffer(), Buffer.alloc(10)]),
    );
    const halfHeader = await RawConnection.connect(server.port);
    halfHeader.write(Buffer.from([0x80, 0x00]));
    expect(await settlesWithin(midRecord.closed, 10_000)).toBe(true);
    expect(await settlesWithin(halfHeader.closed, 10_000)).toBe(true);
    expect(lines.some((line) => line.includes("a record is incomplete after 300 ms"))).toBe(true);
    await waitFor(() => server.stats().heldBytes === 0, "held bytes to be released");
    await expectAlive(server);
    await server.stop();
  });

  test("a record trickled byte by byte is dropped too: the clock runs from its first byte", async () => {
    const { server } = startServer({ stallMs: 300, idleTimeoutMs: 0 });
    const raw = await RawConnection.connect(server.port);
    raw.write(new XdrWriter().uint32(0x8000_1000).toBuffer());
    // The server's close can reach the socket between two ticks; that write is then short.
    const trickle = setInterval(() => raw.writeIfOpen(Buffer.alloc(1)), 20);
    const closed = await settlesWithin(raw.closed, 10_000);
    clearInterval(trickle);
    expect(closed).toBe(true);
    await server.stop();
  });

  test("a client that does not read its replies is dropped after stallMs", async () => {
    const { server } = startServer({ stallMs: 300, idleTimeoutMs: 0 });
    const client = await RpcClient.connect(server.port);
    client.pauseReading();
    const replies = Array.from({ length: 200 }, () =>
      client.callOk(PROG, VERS, Proc.BIG, new XdrWriter().uint32(64 * KiB)).catch(() => undefined),
    );
    expect(await settlesWithin(client.closed, 15_000)).toBe(true);
    await Promise.all(replies);
    await waitFor(() => server.stats().heldBytes === 0, "held bytes to be released");
    await server.stop();
  });
});

describe("RPC server: connections", () => {
  test("a connection refused at accept is closed at once and holds no slot", async () => {
    const { server, counters } = startServer({
      connectionsMax: 2,
      acceptConnection: (address) => address !== "127.0.0.1",
    });
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => closedAtConnect(server.port, 10_000)),
    );
    expect(refused).toEqual([true, true, true, true, true]);
    expect(server.stats().connections).toBe(0);
    expect(server.stats().refused).toBe(5);
    expect(counters.started).toBe(0);
    await server.stop();
  });

  test("at connectionsMax, the idlest connection makes room; busy ones are not evicted", async () => {
    const { server, gate } = startServer({ connectionsMax: 2 });
    const first = await RpcClient.connect(server.port);
    await first.callOk(PROG, VERS, Proc.NULL);
    await using second = await RpcClient.connect(server.port);
    const busy = second.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(5));
    await waitFor(() => server.stats().inFlight === 1, "the gated call to start");
    // A third connection evicts the idle first one, not the busy second one.
    await using third = await RpcClient.connect(server.port);
    await third.callOk(PROG, VERS, Proc.NULL);
    expect(await settlesWithin(first.closed, 10_000)).toBe(true);
    expect(server.stats().evicted).toBe(1);
    // Both remaining are busy now: a fourth is refused.
    const stuck = third.callOk(PROG, VERS, Proc.GATED, new XdrWriter().uint32(5));
    await waitFor(() => server.stats().inFlight === 2, "both gated calls to start");
    const fourth = await RpcClient.connect(server.port);
    expect(await settlesWithin(fourth.closed, 10_000)).toBe(true);
    gate(5).resolve();
    expect((await busy).uint32()).toBe(5);
    expect((await stuck).uint32()).toBe(5);
    await server.stop();
  });
});

describe("RPC server: bytes held by all connections together", () => {
  test("pipelining connections stop at the server-wide cap; a small call still gets in", async () => {
    const heldBytesMax = 4 * MiB;
    const { server, gate, counters } = startServer({ heldBytesMax });
    const payloadBytes = 256 * KiB;
    const clients = await Promise.all(
      Array.from({ length: 8 }, () => RpcClient.connect(server.port)),
    );
    // 8 x 32 x 256 KiB = 64 MiB offered, 16 times the cap; the per-connection limit is 128.
    const replies = clients.flatMap((client) =>
      Array.from({ length: 32 }, () =>
        client.callOk(PROG, VERS, Proc.SINK, sinkArgs(7, payloadBytes)),
      ),
    );
    const bound = heldBytesMax + RPC_RECORD_BYTES_MAX + 8 * 512 * KiB;
    await waitFor(() => server.stats().heldBytes >= heldBytesMax, "the cap to be reached");
    await waitFor(() => server.stats().waitingForBudget === 8, "every pipeliner to wait");
    // A client holding nothing gets a small call in, though every byte of the cap is taken.
    await expectAlive(server);
    // But not a big one: it waits for room like the others.
    await using big = await RpcClient.connect(server.port);
    const bigReply = big.callOk(PROG, VERS, Proc.SINK, sinkArgs(8, payloadBytes));
    await waitFor(() => server.stats().waitingForBudget === 9, "the big call to wait");
    const stats = server.stats();
    console.log(
      `held ${(stats.heldBytes / MiB).toFixed(1)} MiB with ${counters.started} calls running ` +
        `(cap ${heldBytesMax / MiB} MiB; without it ${(64 * MiB) / MiB} MiB)`,
    );
    expect(stats.heldBytes).toBeLessThan(bound);
    expect(counters.started).toBeLessThanOrEqual(Math.ceil(bound / payloadBytes));
    gate(7).resolve();
    gate(8).resolve();
    expect((await bigReply).uint32()).toBe(payloadBytes);
    const results = await Promise.all(replies);
    expect(results.every((body) => body.uint32() === payloadBytes)).toBe(true);
    expect(counters.finished).toBe(8 * 32 + 1);
    await waitFor(() => server.stats().heldBytes === 0, "held bytes to be released");
    for (const client of clients) await client.close();
    await server.stop();
  }, 60_000);

  test("records begun together all finish even when they overrun the cap (no deadlock)", async () => {
    const { server, gate } = startServer({ heldBytesMax: MiB });
    gate(3).resolve();
    const clients = await Promise.all(
      Array.from({ length: 16 }, () => RpcClient.connect(server.port)),
    );
    const replies = clients.flatMap((client) =>
      Array.from({ length: 4 }, () => client.callOk(PROG, VERS, Proc.SINK, sinkArgs(3, 900 * KiB))),
    );
    const results = await Promise.all(replies);
    expect(results.every((body) => body.uint32() === 900 * KiB)).toBe(true);
    await waitFor(() => server.stats().heldBytes === 0, "held bytes to be released");
    for (const client of clients) await client.close();
    await server.stop();
  }, 60_000);
});
