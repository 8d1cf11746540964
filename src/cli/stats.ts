/**
 * jfs stats [MOUNTPOINT] [--metrics HOST:PORT] — a live view of a running mount, server or
 * gateway, like `juicefs stats`: every interval one row of ops/s and mean latency per layer
 * (the front end, meta transactions, object requests), client throughput, cache hit ratio,
 * and the process's CPU, memory and write buffer. It reads the process's /metrics endpoint.
 *
 * MOUNTPOINT (a FUSE mount, or any path on one) is found by asking the mount: it answers its
 * metrics address as the virtual xattr user.jfs.metrics of its root (src/fuse/ops_xattr.ts),
 * whatever port it landed on. jfs serve and jfs gateway are named by --metrics HOST:PORT (an
 * NFS client's mount point leads to the kernel's client, not to the server). Neither given: the
 * default address.
 *
 * Output: rows for a terminal (the header repeated as it scrolls away), the same rows for logs;
 * --json prints one JSON object per interval instead; --once prints one interval and exits.
 */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import type { CAC } from "cac";
import { describeError, UserError } from "../errors.ts";
import { getXattr, SyscallError } from "../fuse/libc.ts";
import { readMountInfo } from "../fuse/mountinfo.ts";
import {
  METRICS_ADDRESS_DEFAULT,
  STATS_EXPOSITION_BYTES_MAX,
  STATS_INTERVAL_SEC_DEFAULT,
  STATS_SCRAPE_TIMEOUT_MS,
} from "../limits.ts";
import { METRICS_XATTR } from "../metrics/jfs.ts";
import { parseExposition } from "../metrics/parse.ts";
import { type Rates, ratesOf, type Totals, totalsOf } from "../metrics/rates.ts";
import { errnoName } from "../posix.ts";
import { addressOf } from "./gateway.ts";
import { parseIntFlag, parseNumberFlag, stringFlag } from "./options.ts";
import { statsHeader, statsRow } from "./statsview.ts";
import { jfsMountOf } from "./warmup.ts";

interface StatsFlags {
  metrics?: unknown;
  interval?: unknown;
  count?: unknown;
  once?: boolean;
  json?: boolean;
}

/** Terminal rows between two headers. */
const HEADER_EVERY_ROWS = 20;
const INTERVAL_SEC_MAX = 3600;

/** The metrics address of the FUSE mount `path` is on, as the mount answers it. */
export function mountMetricsAddress(path: string): string {
  let real: string;
  try {
    real = realpathSync(resolve(path));
  } catch (error) {
    throw new UserError(`stats: ${path}: ${describeError(error)}`);
  }
  const mount = jfsMountOf(real, readMountInfo());
  if (mount === undefined) {
    throw new UserError(
      `stats: ${path} is not on a jfs FUSE mount (for jfs serve or jfs gateway give --metrics HOST:PORT)`,
    );
  }
  let value: Buffer | undefined;
  try {
    value = getXattr(mount.mountPoint, METRICS_XATTR, 256);
  } catch (error) {
    // ENOTCONN: the mount's process is gone (jfs umount --force cleans it up).
    const errno = error instanceof SyscallError ? ` (${errnoName(error.errno)})` : "";
    throw new UserError(`stats: cannot ask the mount on ${mount.mountPoint}${errno}: is it alive?`);
  }
  if (value === undefined || value.length === 0) {
    throw new UserError(
      `stats: the mount on ${mount.mountPoint} serves no metrics (mounted with --no-metrics?)`,
    );
  }
  return value.toString("utf8");
}

/** One scrape of http://ADDRESS/metrics, as totals. */
export async function scrape(address: string): Promise<Totals> {
  const url = `http://${address}/metrics`;
  let text: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(STATS_SCRAPE_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    text = await response.text();
  } catch (error) {
    throw new UserError(`stats: cannot read ${url}: ${describeError(error)}`);
  }
  if (text.length > STATS_EXPOSITION_BYTES_MAX) throw new UserError(`stats: ${url}: too large`);
  return totalsOf(parseExposition(text).samples);
}

function targetAddress(path: string | undefined, flags: StatsFlags): string {
  const given = stringFlag(flags.metrics);
  if (path !== undefined && given !== undefined) {
    throw new UserError("stats: give a MOUNTPOINT or --metrics HOST:PORT, not both");
  }
  if (path !== undefined) return mountMetricsAddress(path);
  const { hostname, port } = addressOf(given ?? METRICS_ADDRESS_DEFAULT, "metrics");
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

export async function runStats(path: string | undefined, flags: StatsFlags): Promise<void> {
  const intervalSec =
    flags.interval === undefined
      ? STATS_INTERVAL_SEC_DEFAULT
      : parseNumberFlag("interval", flags.interval, 0.1, INTERVAL_SEC_MAX);
  const count =
    flags.once === true
      ? 1
      : flags.count === undefined
        ? Number.POSITIVE_INFINITY
        : parseIntFlag("count", flags.count, 1);
  const address = targetAddress(path, flags);
  const json = flags.json === true;
  const tty = process.stdout.isTTY === true && !json;
  let before = await scrape(address);
  let beforeMs = performance.now();
  for (let row = 0; row < count; row++) {
    await Bun.sleep(intervalSec * 1000);
    const after = await scrape(address);
    const nowMs = performance.now();
    const rates = ratesOf(before, after, (nowMs - beforeMs) / 1000);
    [before, beforeMs] = [after, nowMs];
    if (json) {
      const line = { time: new Date().toISOString(), address, ...roundRates(rates) };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      continue;
    }
    if (row === 0 || (tty && row % HEADER_EVERY_ROWS === 0)) {
      process.stdout.write(statsHeader(rates.frontEnd));
    }
    process.stdout.write(statsRow(rates));
  }
}

/** Rates rounded for JSON: a log line needs no 17-digit floats. */
function roundRates(rates: Rates): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(rates, (_, v: unknown) =>
      typeof v === "number" ? Math.round(v * 1000) / 1000 : v,
    ),
  ) as Record<string, unknown>;
}

export function registerStats(cli: CAC): void {
  cli
    .command(
      "stats [MOUNTPOINT]",
      "Live ops/s, throughput, cache hits and latency of a mount, server or gateway",
    )
    .option(
      "--metrics <host:port>",
      `The metrics address of a jfs serve or gateway (default: ${METRICS_ADDRESS_DEFAULT})`,
    )
    .option("--interval <sec>", `Seconds per row (default: ${STATS_INTERVAL_SEC_DEFAULT})`)
    .option("--count <n>", "Stop after this many rows (default: until interrupted)")
    .option("--once", "Print one interval and exit (for logs and scripts)")
    .option("--json", "One JSON object per interval instead of rows")
    .example("jfs stats /mnt/jfs")
    .example("jfs stats --metrics 127.0.0.1:9568 --once --json")
    .action(async (path: unknown, flags: StatsFlags) => {
      await runStats(stringFlag(path), flags);
    });
}
