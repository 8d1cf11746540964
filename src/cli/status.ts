/**
 * jfs status [META-URL] — settings (secrets masked), usage counters and live sessions.
 */
import type { CAC } from "cac";
import { checksumOf } from "../meta/interface.ts";
import { formatBytes } from "./options.ts";
import { maskFormat, openVolume } from "./volume.ts";

export function registerStatus(cli: CAC): void {
  cli
    .command("status [META-URL]", "Show a volume's settings, usage and sessions")
    .option("--json", "Print one JSON object, for scripts")
    .action(async (metaUrl: string | undefined, flags: { json?: boolean }) => {
      const { meta, format } = await openVolume(
        metaUrl === undefined ? undefined : String(metaUrl),
      );
      try {
        const counters = await meta.counters();
        const sessions = await meta.listSessions();
        const report = {
          setting: maskFormat(format),
          usage: { usedSpaceBytes: counters.usedSpaceBytes, usedInodes: counters.usedInodes },
          sessions,
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
          `Block size:  ${s.blockSizeKiB} KiB, compression ${s.compression}, checksum ${checksumOf(s)}`,
          `Capacity:    ${s.capacityBytes ? formatBytes(s.capacityBytes) : "unlimited"}, inodes ${s.inodes || "unlimited"}`,
          `Trash:       ${s.trashDays} day(s)`,
          `Used:        ${formatBytes(counters.usedSpaceBytes)}, ${counters.usedInodes} inodes`,
          `Sessions:    ${sessions.length}`,
          ...sessions.map(
            (x) =>
              `  ${x.sid}: ${x.hostname} pid ${x.pid}${x.mountPoint ? ` ${x.mountPoint}` : ""}, heartbeat ${new Date(x.heartbeatAt).toISOString()}`,
          ),
        ];
        console.log(lines.join("\n"));
      } finally {
        await meta.close();
      }
    });
}
