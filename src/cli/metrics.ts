/**
 * --metrics HOST:PORT and --no-metrics of serve, mount and gateway: the Prometheus endpoint
 * (src/metrics/server.ts) started before the volume is opened, so a busy port is one line and
 * nothing started, then fed by the runtime's collectors once it is open.
 */
import type { Command } from "cac";
import { UserError } from "../errors.ts";
import { METRICS_ADDRESS_DEFAULT, METRICS_PORT_TRIES } from "../limits.ts";
import { type CollectedVolume, collectVolume } from "../metrics/collect.ts";
import {
  type MetricsListen,
  MetricsPortBusyError,
  type MetricsServer,
  startMetricsServer,
} from "../metrics/server.ts";
import { addressOf } from "./gateway.ts";

export interface MetricsFlags {
  /** A string when given; false with --no-metrics; true or undefined otherwise. */
  metrics?: unknown;
}

export function withMetricsFlags(command: Command): Command {
  return command
    .option(
      "--metrics <host:port>",
      `Serve Prometheus metrics at http://HOST:PORT/metrics (default: ${METRICS_ADDRESS_DEFAULT}; while busy the next ${METRICS_PORT_TRIES - 1} ports, then any free one)`,
    )
    .option("--no-metrics", "Serve no metrics endpoint");
}

/** Where to listen, checked with the other flags; undefined with --no-metrics. */
export function metricsListenOf(flags: MetricsFlags): MetricsListen | undefined {
  if (flags.metrics === false) return undefined;
  const explicit = typeof flags.metrics === "string" || typeof flags.metrics === "number";
  const text = explicit ? String(flags.metrics) : METRICS_ADDRESS_DEFAULT;
  return { ...addressOf(text, "metrics"), explicit };
}

/** The endpoint of one serving command; attach() the runtime once it is open. */
export interface Metrics {
  address: string;
  /** "metrics: serving on http://HOST:PORT/metrics\n", printed after a command's ready line. */
  readyLine: string;
  attach(volume: CollectedVolume): void;
  stop(): Promise<void>;
}

/** Binds the endpoint, or says in one line why not (and nothing is started). */
export function startMetrics(listen: MetricsListen | undefined): Metrics | undefined {
  if (listen === undefined) return undefined;
  let server: MetricsServer;
  try {
    server = startMetricsServer(listen);
  } catch (error) {
    if (error instanceof MetricsPortBusyError) {
      throw new UserError(`Cannot serve metrics: ${error.message}`);
    }
    throw new UserError(
      `Cannot serve metrics on ${listen.hostname}:${listen.port}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const moved = server.moved && listen.port !== 0 ? ` (port ${listen.port} was busy)` : "";
  let detach: (() => void) | undefined;
  return {
    address: server.address,
    readyLine: `metrics: serving on http://${server.address}/metrics${moved}\n`,
    attach(volume) {
      detach?.();
      detach = collectVolume(volume);
    },
    async stop() {
      detach?.();
      await server.stop();
    },
  };
}

/** Runs a serving command with its metrics endpoint, stopped when the command returns. */
export async function withMetrics<T>(
  flags: MetricsFlags,
  run: (metrics: Metrics | undefined) => Promise<T>,
): Promise<T> {
  const metrics = startMetrics(metricsListenOf(flags));
  try {
    return await run(metrics);
  } finally {
    await metrics?.stop();
  }
}
