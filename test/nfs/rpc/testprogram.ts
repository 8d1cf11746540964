/**
 * A test program for the RPC server tests: each procedure exercises one path of the server
 * (echo, a handler gated by the test, a throwing one, big replies, the caller's credentials).
 */
import { expect } from "bun:test";
import { AuthFlavor } from "../../../nfs/rpc/constants.ts";
import {
  Dispatcher,
  procedure,
  type RpcCall,
  type RpcLogger,
  VOID_RESULT,
  voidArgs,
} from "../../../nfs/rpc/dispatcher.ts";
import { RpcServer, type RpcServerOptions } from "../../../nfs/rpc/server.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RPC_RECORD_BYTES_MAX } from "../../../src/limits.ts";
import { RpcClient } from "../rpcclient.ts";

export const PROG = 0x2000_0101;
export const VERS = 1;
export const Proc = { NULL: 0, ECHO: 1, GATED: 2, THROW: 3, BIG: 4, WHOAMI: 5, SINK: 6 } as const;
const ECHO_BYTES_MAX = 1024;

function quietLog() {
  const lines: string[] = [];
  const note = (message: unknown) => lines.push(String(message));
  const log: RpcLogger = { error: note, warn: note, info: note, debug: () => {} };
  return { lines, log };
}

export function startServer(options: Partial<RpcServerOptions> = {}) {
  const { lines, log } = quietLog();
  const gates = new Map<number, PromiseWithResolvers<void>>();
  const gate = (id: number) => {
    let g = gates.get(id);
    if (g === undefined) {
      g = Promise.withResolvers<void>();
      gates.set(id, g);
    }
    return g;
  };
  const counters = { started: 0, finished: 0 };
  const dispatcher = new Dispatcher({ log });
  dispatcher.register({
    name: "TEST",
    prog: PROG,
    vers: VERS,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure(
        "ECHO",
        (r) => r.opaqueVar(ECHO_BYTES_MAX),
        (_c, data) => new XdrWriter().opaqueVar(data, ECHO_BYTES_MAX),
      ),
      procedure(
        "GATED",
        (r) => r.uint32(),
        async (_c, id) => {
          counters.started += 1;
          await gate(id).promise;
          counters.finished += 1;
          return new XdrWriter().uint32(id);
        },
      ),
      procedure("THROW", voidArgs, () => {
        throw new Error("procedure bug");
      }),
      procedure(
        "BIG",
        (r) => r.uint32(),
        (_c, sizeBytes) => {
          counters.started += 1;
          return new XdrWriter().opaqueVar(Buffer.alloc(sizeBytes, 0x5a), RPC_RECORD_BYTES_MAX);
        },
      ),
      procedure("WHOAMI", voidArgs, (call: RpcCall) => {
        const c = call.credentials;
        const w = new XdrWriter().uint32(c.flavor);
        if (c.flavor === AuthFlavor.AUTH_SYS) {
          w.uint32(c.uid)
            .uint32(c.gid)
            .arrayVar(c.groups, 16, (x, g) => x.uint32(g));
          w.string(c.machineName, 255);
        }
        return w;
      }),
      // Holds a big request (as a WRITE waiting on a stalled store would) until its gate opens.
      procedure(
        "SINK",
        (r) => ({ id: r.uint32(), data: r.opaqueVar(RPC_RECORD_BYTES_MAX) }),
        async (_c, { id, data }) => {
          counters.started += 1;
          await gate(id).promise;
          counters.finished += 1;
          return new XdrWriter().uint32(data.byteLength);
        },
      ),
    ],
  });
  const server = RpcServer.listen({ dispatcher, log, ...options });
  return { server, lines, gate, counters };
}

export async function expectAlive(server: RpcServer): Promise<void> {
  await using client = await RpcClient.connect(server.port);
  const body = await client.callOk(
    PROG,
    VERS,
    Proc.ECHO,
    new XdrWriter().opaqueVar(Buffer.from("ok"), 8),
  );
  expect(body.opaqueVar(8).toString()).toBe("ok");
}
