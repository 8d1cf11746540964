/**
 * Recycled buffers in the RPC layer. XdrWriter.whenSent: a reply's hooks run once the connection
 * no longer needs its bytes (the kernel took the last one, or the connection is gone), never
 * before. NFS READ recycles its reply buffers on this signal (nfs/nfs3/readbuffers.ts); a hook
 * run too early would let the next call overwrite bytes still queued for the socket. And big
 * records of procedures that keep nothing of their arguments (NFS WRITE) are assembled in
 * recycled buffers (src/recycled.ts), others never.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  Dispatcher,
  procedure,
  type RpcLogger,
  VOID_RESULT,
  voidArgs,
} from "../../../nfs/rpc/dispatcher.ts";
import { RpcServer } from "../../../nfs/rpc/server.ts";
import type { XdrReader } from "../../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RPC_RECORD_BYTES_MAX } from "../../../src/limits.ts";
import { RpcClient, waitFor } from "../rpcclient.ts";

const PROG = 0x2000_0102;
const VERS = 1;
const LEND = 1;
const REPLY_BYTES = 1 << 20;

/** A server whose one procedure answers with a recycled 1 MiB buffer filled with the call's byte. */
function lendingServer() {
  const pool: Buffer[] = [];
  const counters = { started: 0, sent: 0, allocated: 0 };
  const log: RpcLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
  const dispatcher = new Dispatcher({ log });
  dispatcher.register({
    name: "LENDER",
    prog: PROG,
    vers: VERS,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure(
        "LEND",
        (r) => r.uint32(),
        (_call, fill) => {
          counters.started += 1;
          let buffer = pool.pop();
          if (buffer === undefined) {
            counters.allocated += 1;
            buffer = Buffer.allocUnsafe(REPLY_BYTES);
          }
          const lent = buffer.fill(fill & 0xff);
          return new XdrWriter().opaqueVar(lent, RPC_RECORD_BYTES_MAX).whenSent(() => {
            counters.sent += 1;
            pool.push(lent);
          });
        },
      ),
    ],
  });
  const server = RpcServer.listen({ dispatcher, log });
  return { server, counters };
}

describe("RPC replies: whenSent hooks", () => {
  test("run only once the kernel took the reply; recycled buffers never corrupt a queued one", async () => {
    const { server, counters } = lendingServer();
    try {
      await using client = await RpcClient.connect(server.port);
      client.pauseReading();
      const calls = 48;
      const replies = Array.from({ length: calls }, (_, i) =>
        client.callOk(PROG, VERS, LEND, new XdrWriter().uint32(i + 1)),
      );
      // Every call has run; 48 MiB of replies cannot all sit in loopback socket buffers.
      await waitFor(() => counters.started === calls, "every call to run");
      await waitFor(() => server.stats().outputBytes > 0, "replies to queue");
      expect(counters.sent).toBeLessThan(calls);
      client.resumeReading();
      const bodies = await Promise.all(replies);
      for (let i = 0; i < calls; i++) {
        const data = bodies[i]!.opaqueVar(RPC_RECORD_BYTES_MAX);
        expect(data.length).toBe(REPLY_BYTES);
        const wrong = data.findIndex((byte) => byte !== ((i + 1) & 0xff));
        expect({ call: i + 1, firstWrongByte: wrong }).toEqual({ call: i + 1, firstWrongByte: -1 });
      }
      await waitFor(() => counters.sent === calls, "every hook to run");
      // Buffers go round: calls after them take the returned ones, allocating none.
      const allocated = counters.allocated;
      for (let i = 1; i <= 8; i++) {
        await client.callOk(PROG, VERS, LEND, new XdrWriter().uint32(i));
        await waitFor(() => counters.sent === calls + i, "the hook of the call after");
      }
      expect(counters.allocated).toBe(allocated);
    } finally {
      await server.stop();
    }
  });

  test("small and large replies queued behind a full socket leave whole and in order", async () => {
    const { server, counters } = lendingServer();
    try {
      await using client = await RpcClient.connect(server.port);
      client.pauseReading();
      // NULL replies (28 bytes) between 1 MiB ones: one writev carries pieces of several
      // replies, and a short write stops inside one of them.
      const calls = Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? client.callOk(PROG, VERS, LEND, new XdrWriter().uint32(i + 1))
          : client.callOk(PROG, VERS, 0, new XdrWriter()),
      );
      await waitFor(() => counters.started === 20, "every LEND to run");
      await waitFor(() => server.stats().outputBytes > 0, "replies to queue");
      client.resumeReading();
      const bodies = await Promise.all(calls);
      for (let i = 0; i < bodies.length; i += 2) {
        const data = bodies[i]!.opaqueVar(RPC_RECORD_BYTES_MAX);
        expect(data.length).toBe(REPLY_BYTES);
        expect(data.findIndex((byte) => byte !== ((i + 1) & 0xff))).toBe(-1);
      }
      await waitFor(() => counters.sent === 20, "every hook to run");
    } finally {
      await server.stop();
    }
  });

  test("a connection closed with replies queued runs their hooks: nothing stays lent", async () => {
    const { server, counters } = lendingServer();
    try {
      const client = await RpcClient.connect(server.port);
      client.pauseReading();
      const calls = 32;
      for (let i = 0; i < calls; i++) {
        void client.call(PROG, VERS, LEND, new XdrWriter().uint32(i)).catch(() => {});
      }
      await waitFor(() => counters.started === calls, "every call to run");
      await waitFor(() => server.stats().outputBytes > 0, "replies to queue");
      expect(counters.sent).toBeLessThan(calls);
      client.terminate();
      await waitFor(() => server.stats().connections === 0, "the server to see the close");
      expect(counters.sent).toBe(calls);
    } finally {
      await server.stop();
    }
  });
});

/** A server whose procedures take a 1 MiB opaque and answer its CRC-32; KEEP holds on to it. */
function sinkServer() {
  const seen = { recycledBuffers: new Set<ArrayBufferLike>(), kept: [] as Buffer[] };
  const log: RpcLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
  const dispatcher = new Dispatcher({ log });
  const data = (r: XdrReader) => r.opaqueVar(RPC_RECORD_BYTES_MAX);
  dispatcher.register({
    name: "SINKS",
    prog: PROG,
    vers: VERS,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure(
        "RECYCLE",
        data,
        async (_call, bytes) => {
          seen.recycledBuffers.add(bytes.buffer);
          await Bun.sleep(1); // others arrive meanwhile
          return new XdrWriter().uint32(Bun.hash.crc32(bytes));
        },
        { recyclesArgs: true },
      ),
      procedure("KEEP", data, (_call, bytes) => {
        seen.kept.push(bytes);
        return new XdrWriter().uint32(Bun.hash.crc32(bytes));
      }),
    ],
  });
  return { server: RpcServer.listen({ dispatcher, log }), seen };
}

describe("RPC records of procedures that recycle their arguments", () => {
  test("are assembled in recycled buffers, each call seeing its own bytes", async () => {
    const { server, seen } = sinkServer();
    try {
      await using client = await RpcClient.connect(server.port);
      const payloads = Array.from({ length: 40 }, () => randomBytes(REPLY_BYTES));
      for (let round = 0; round < 2; round++) {
        const crcs = await Promise.all(
          payloads.map((p) =>
            client.callOk(PROG, VERS, 1, new XdrWriter().opaqueVar(p, RPC_RECORD_BYTES_MAX)),
          ),
        );
        for (let i = 0; i < crcs.length; i++) {
          expect(crcs[i]!.uint32()).toBe(Bun.hash.crc32(payloads[i]!));
        }
      }
      // 80 records of 1 MiB went through far fewer buffers.
      expect(seen.recycledBuffers.size).toBeLessThan(40);
    } finally {
      await server.stop();
    }
  });

  test("a procedure that did not opt in keeps its arguments intact after answering", async () => {
    const { server, seen } = sinkServer();
    try {
      await using client = await RpcClient.connect(server.port);
      const payloads = Array.from({ length: 24 }, () => randomBytes(REPLY_BYTES));
      await Promise.all(
        payloads.map((p) =>
          client.callOk(PROG, VERS, 2, new XdrWriter().opaqueVar(p, RPC_RECORD_BYTES_MAX)),
        ),
      );
      // Recycled calls after them must not touch what KEEP still holds.
      await Promise.all(
        payloads.map(() =>
          client.callOk(
            PROG,
            VERS,
            1,
            new XdrWriter().opaqueVar(randomBytes(REPLY_BYTES), RPC_RECORD_BYTES_MAX),
          ),
        ),
      );
      const keptCrcs = new Set(seen.kept.map((k) => Bun.hash.crc32(k)));
      expect(keptCrcs).toEqual(new Set(payloads.map((p) => Bun.hash.crc32(p))));
    } finally {
      await server.stop();
    }
  });
});
