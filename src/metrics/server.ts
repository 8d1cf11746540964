/**
 * The /metrics endpoint: GET /metrics answers the registry in the text exposition format.
 *
 * Port choice: an address the user gave (--metrics HOST:PORT) is taken or refused (the caller
 * says so in one line and does not start, as with a busy NFS port). The default address moves
 * on to the next ports while they are busy, as JuiceFS does, so a second mount on one machine
 * gets 9568, a third 9569; past METRICS_PORT_TRIES ports it takes any free port rather than
 * refuse to start over a port nobody asked for. Where it landed is logged, and a FUSE mount
 * answers it as an xattr of its root (jfs stats DIR finds it there).
 */
import { describeError } from "../errors.ts";
import { METRICS_PORT_TRIES } from "../limits.ts";
import { collectProcess } from "./collect.ts";
import { registry } from "./jfs.ts";

export interface MetricsListen {
  hostname: string;
  port: number;
  /** Given by the user: a busy port is an error, never another port. */
  explicit: boolean;
}

export interface MetricsServer {
  hostname: string;
  port: number;
  /** "HOST:PORT" as `jfs stats --metrics` takes it (IPv6 in brackets). */
  address: string;
  /** Not the port asked for: the default one was busy. */
  moved: boolean;
  stop(): Promise<void>;
}

/** A busy port of an explicit address, or every port tried of the default one. */
export class MetricsPortBusyError extends Error {
  override name = "MetricsPortBusyError";
}

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

async function answer(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path !== "/metrics") return new Response("jfs: metrics are at /metrics\n", { status: 404 });
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("GET only\n", { status: 405 });
  }
  let text: string;
  try {
    text = await registry.render();
  } catch (error) {
    // A collector of a volume that is closing; the next scrape has none.
    return new Response(`cannot collect: ${describeError(error)}\n`, { status: 503 });
  }
  return new Response(text, { headers: { "content-type": EXPOSITION_CONTENT_TYPE } });
}

function bind(hostname: string, port: number): ReturnType<typeof Bun.serve> | undefined {
  try {
    return Bun.serve({ hostname, port, fetch: answer });
  } catch (error) {
    const code = error instanceof Error && "code" in error ? error.code : undefined;
    if (code === "EADDRINUSE") return undefined;
    throw error;
  }
}

export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** The ports to try, in order: the one given, or the default's run and then any free one. */
function portsToTry(listen: MetricsListen): number[] {
  if (listen.explicit || listen.port === 0) return [listen.port];
  const ports: number[] = [];
  for (let i = 0; i < METRICS_PORT_TRIES && listen.port + i <= 65535; i++) {
    ports.push(listen.port + i);
  }
  return [...ports, 0];
}

export function startMetricsServer(listen: MetricsListen): MetricsServer {
  for (const tried of portsToTry(listen)) {
    const server = bind(listen.hostname, tried);
    if (server === undefined) continue;
    const port = server.port ?? tried;
    const removeProcess = collectProcess();
    return {
      hostname: listen.hostname,
      port,
      address: formatAddress(listen.hostname, port),
      moved: port !== listen.port,
      async stop() {
        removeProcess();
        await server.stop(true);
      },
    };
  }
  const where = formatAddress(listen.hostname, listen.port);
  throw new MetricsPortBusyError(
    `${where} is already in use (choose another --metrics HOST:PORT, port 0 = any free one, or --no-metrics)`,
  );
}
