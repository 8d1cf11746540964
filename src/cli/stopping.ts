/**
 * The last part of stopping `jfs serve` and `jfs mount` after SIGINT/SIGTERM: flushing buffered
 * writes and closing the volume. It used to wait in silence for as long as the object store
 * kept failing (minutes: every upload retries). Now it says what it waits for (after
 * STOP_FIRST_REPORT_MS, then every OBJECT_OUTAGE_LOG_MS), and gives up once the object store has
 * not answered for STOP_OUTAGE_WAIT_MS since the signal: the command then fails with one line
 * and the process exits (a second signal still exits at once).
 */
import { UserError } from "../errors.ts";
import { OBJECT_OUTAGE_LOG_MS, STOP_FIRST_REPORT_MS, STOP_OUTAGE_WAIT_MS } from "../limits.ts";
import { log } from "../log.ts";
import { outages } from "../object/outage.ts";

/** How often the wait looks at the object store's state. */
const POLL_MS = 250;

/** Waits for `work` (`what`, e.g. "flushing and closing the volume"), within the bound above. */
export async function finishStopping(what: string, work: Promise<void>): Promise<void> {
  const signalAtMs = Date.now();
  let finished = false;
  const settled = work.then(
    () => {
      finished = true;
    },
    () => {
      finished = true;
    },
  );
  let reportAtMs = signalAtMs + STOP_FIRST_REPORT_MS;
  while (!finished) {
    await Promise.race([settled, Bun.sleep(POLL_MS)]);
    if (finished) break;
    const now = Date.now();
    const since = outages.troubledSinceMs();
    const outageMs = since === undefined ? 0 : now - Math.max(since, signalAtMs);
    const waiting = outages.describe();
    if (outageMs >= STOP_OUTAGE_WAIT_MS) {
      throw new UserError(
        `gave up ${what}: the object store did not answer for ${Math.round(outageMs / 1000)} s ` +
          `(${waiting ?? "no answer"}); writes not yet uploaded are lost`,
      );
    }
    if (now >= reportAtMs) {
      reportAtMs = now + OBJECT_OUTAGE_LOG_MS;
      const left = Math.ceil((STOP_OUTAGE_WAIT_MS - outageMs) / 1000);
      log.warn(
        waiting === undefined
          ? `still ${what} (signal again to exit now)`
          : `still ${what}: the object store is not answering, ${waiting}; giving up in ${left} s ` +
              "(signal again to exit now)",
      );
    }
  }
  await work;
}

/** One server of the process: what stopping it is called in the log, and how. */
export interface Served {
  /** e.g. "the NFS server". */
  name: string;
  /** Stops accepting and lets in-flight requests finish. */
  stop: () => Promise<void>;
}

/**
 * The foreground life of `serve` and `gateway` once ready: prints `ready`, waits for SIGINT or
 * SIGTERM, then stops every server (together: `jfs serve --nfs --s3` has two on one volume),
 * and only then runs `close` (flush, close the volume), all within finishStopping's bound. A
 * second signal exits at once, without flushing.
 */
export async function serveUntilSignal(
  servers: Served[],
  ready: string,
  close: () => Promise<void>,
): Promise<void> {
  const what = `stopping ${servers.map((s) => s.name).join(" and ")}`;
  const stopped = Promise.withResolvers<string>();
  let signals = 0;
  const onSignal = (signal: string) => {
    if (++signals > 1) {
      log.warn(`${signal} again: exiting now, without flushing`);
      process.exit(1);
    }
    stopped.resolve(signal);
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    process.stdout.write(ready);
    const signal = await stopped.promise;
    log.info(`${signal}: ${what}, then flushing and closing the volume`);
    const work = (async () => {
      // allSettled: one server failing to stop must not leave the other one serving on.
      const results = await Promise.allSettled(servers.map((s) => s.stop()));
      await close();
      for (const r of results) if (r.status === "rejected") throw r.reason;
    })();
    await finishStopping(`${what} and flushing the volume`, work);
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}
