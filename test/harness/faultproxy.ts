/**
 * An HTTP proxy in front of an S3 server that breaks chosen requests, to prove the retry policy:
 * - "500":   answers HTTP 500 InternalError without asking upstream,
 * - "reset": drops the connection without an answer,
 * - "stall": never answers (until the proxy stops), so only the client's deadline gets it out,
 * - "truncate": forwards, then drops the connection halfway through the answer's body,
 * - "hold":  a store that stalls, then recovers: requests wait until clear() (or a new plan),
 *            then are forwarded as if nothing happened.
 * Everything else is forwarded unchanged, Host header included, so SigV4 signatures still match.
 *
 *   await using proxy = await startFaultProxy(s3.endpoint);
 *   proxy.inject({ fault: "reset", count: 2 });       // the next 2 requests
 *   proxy.inject({ fault: "500", fraction: 0.3 });    // 30% of requests, seeded, until cleared
 */
import { Agent, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { readBody, relay, send, sendError } from "./relay.ts";

export type Fault = "500" | "reset" | "stall" | "truncate" | "hold";

export interface FaultPlan {
  fault: Fault;
  /** Break the next `count` requests. */
  count?: number;
  /** Break each request with this probability (seeded, reproducible). */
  fraction?: number;
}

export interface FaultProxy {
  /** "http://127.0.0.1:PORT" */
  endpoint: string;
  bucketUrl(name: string): string;
  /** Replaces the current plan. */
  inject(plan: FaultPlan): void;
  clear(): void;
  /** Requests seen and requests broken since the proxy started. */
  readonly requests: number;
  readonly faulted: number;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startFaultProxy(upstream: string, seed = 1): Promise<FaultProxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const random = mulberry32(seed);
  let plan: FaultPlan | undefined;
  let requests = 0;
  let faulted = 0;
  let held = Promise.withResolvers<void>();
  const releaseHeld = () => {
    held.resolve();
    held = Promise.withResolvers<void>();
  };

  const pickFault = (): Fault | undefined => {
    if (plan === undefined) return undefined;
    if (plan.count !== undefined) {
      if (plan.count <= 0) return undefined;
      plan.count--;
      return plan.fault;
    }
    if (plan.fraction !== undefined && random() < plan.fraction) return plan.fault;
    return undefined;
  };

  const server = createServer((req, res) => {
    requests++;
    const fault = pickFault();
    if (fault !== undefined) faulted++;
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    void (async () => {
      // Read the whole request first, as a server failing after the upload would.
      const body = await readBody(req);
      if (fault === "stall") return; // Took the request, never answers.
      if (fault === "hold") await held.promise;
      if (fault === "500") {
        sendError(res, 500, "InternalError", "injected by the fault proxy");
        return;
      }
      const answer = await relay(target, agent, req, body);
      if (fault === undefined || fault === "hold") {
        send(res, answer);
        return;
      }
      res.writeHead(answer.statusCode, answer.headers);
      const half = answer.body.subarray(0, Math.floor(answer.body.length / 2));
      res.write(half, () => req.socket.destroy());
    })().catch(() => req.socket.destroy());
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    releaseHeld();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    agent.destroy();
    await closed;
  };
  return {
    endpoint,
    bucketUrl: (name) => `${endpoint}/${name}`,
    inject: (next) => {
      plan = { ...next };
      releaseHeld();
    },
    clear: () => {
      plan = undefined;
      releaseHeld();
    },
    get requests() {
      return requests;
    },
    get faulted() {
      return faulted;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A tiny seeded PRNG (public domain, Tommy Ettinger) so fractions break the same requests. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
