/**
 * XdrWriter.whenSent: a reply's hooks run once the connection no longer needs its bytes (the
 * kernel took the last one, or the connection is gone), never before. NFS READ recycles its
 * reply buffers on this signal (nfs/nfs3/readbuffers.ts); a hook run too early would let the
 * next call overwrite bytes still queued for the socket.
 */
import { describe, expect, test } from "bun:test";
import {
  Dispatcher,
  procedure,
  type RpcLogger,
  VOID_RESULT,
  voidArgs,
} from "../../../nfs/rpc/dispatcher.ts";
import { RpcServer } from "../../../nfs/rpc/server.ts";
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
      // Buffers did go round: fewer were allocated than calls were answered.
      expect(counters.allocated).toBeLessThan(calls);
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
