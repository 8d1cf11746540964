/**
 * jfs status [META-URL] — settings (secrets masked), usage counters and live sessions. Dead
 * sessions (no heartbeat within their timeout, by the engine's clock) are expired first, as a
 * live node would, so a killed mount is not listed as live forever.
 */
import type { CAC } from "cac";
import { checksumOf, type SessionInfo } from "../meta/interface.ts";
import { sessionTimeoutMs } from "../meta/sessions.ts";
import { maskFormat, openVolume } from "../volume/open.ts";
import { formatBytes } from "./options.ts";

export function registerStatus(cli: CAC): void {
  cli
    .command("status [META-URL]", "Show a volume's settings, usage and sessions")
    .option("--json", "Print one JSON object, for scripts")
    .action(async (metaUrl: string | undefined, flags: { json?: boolean }) => {
      const { meta, format } = await openVolume(
        metaUrl === undefined ? undefined : String(metaUrl),
      );
      try {
        const expiredSessions = await meta.expireSessions();
        const counters = await meta.counters();
        const nowMs = await meta.clockMs();
        const sessions = (await meta.listSessions()).map((x) => ({
          ...x,
          timeoutMs: sessionTimeoutMs(x),
          heartbeatAgeMs: Math.max(0, nowMs - x.heartbeatAt),
        }));
        const report = {
          setting: maskFormat(format),
          usage: { usedSpaceBytes: counters.usedSpaceBytes, usedInodes: counters.usedInodes },
          sessions,
          expiredSessions,
        };
        if (flags.json) {
          console.log(JSON.stringify(report, null, 2));
          return;
        }
        const s = report.setting;
        const lines = [
          `Volume:      ${s.name} (${s.uuid})`,
          `Meta:        ${meta.displayUrl}`,
          `Storage:     ${s.storage} ${s.bucket}${s.accessKey ? ` (access key ${s.accessKey})` : ""}`,
          `Block size:  ${s.blockSizeKiB} KiB, compression ${s.compression}, checksum ${checksumOf(s)}${s.checksumSinceSliceId === undefined ? "" : ` (data written since slice ${s.checksumSinceSliceId})`}`,
          `Capacity:    ${s.capacityBytes ? formatBytes(s.capacityBytes) : "unlimited"}, inodes ${s.inodes || "unlimited"}`,
          `Trash:       ${s.trashDays} day(s)`,
          `Used:        ${formatBytes(counters.usedSpaceBytes)}, ${counters.usedInodes} inodes`,
          `Sessions:    ${sessions.length}`,
          ...sessions.map(sessionLine),
          ...(expiredSessions > 0
            ? [
                `Expired:     ${expiredSessions} dead session(s) just now (no heartbeat within their timeout)`,
              ]
            : []),
        ];
        console.log(lines.join("\n"));
      } finally {
        await meta.close();
      }
    });
}

/** `  3: host pid 42 /mnt/jfs, heartbeat 4 s ago (timeout 300 s), since 2026-...Z` */
function sessionLine(x: SessionInfo & { heartbeatAgeMs: number }): string {
  const where = x.mountPoint ? ` ${x.mountPoint}` : "";
  const since = new Date(x.startedAt).toISOString();
  const timeout = `timeout ${formatSeconds(sessionTimeoutMs(x))}`;
  return `  ${x.sid}: ${x.hostname} pid ${x.pid}${where}, heartbeat ${formatSeconds(x.heartbeatAgeMs)} ago (${timeout}), since ${since}`;
}

function formatSeconds(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}
