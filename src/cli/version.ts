/**
 * jfs version [--json] — the version, the commit it was built from, the target (OS-ARCH) and the
 * Bun runtime inside, so a bug report names exactly which binary ran.
 */
import type { CAC } from "cac";
import { COMMIT, targetName, VERSION, versionLine } from "../version.ts";

export function registerVersion(cli: CAC): void {
  cli
    .command("version", "Show the version, commit, target and Bun version")
    .option("--json", "Print one JSON object, for scripts")
    .action((flags: { json?: boolean }) => {
      if (flags.json) {
        const info = { version: VERSION, commit: COMMIT, target: targetName(), bun: Bun.version };
        console.log(JSON.stringify(info));
      } else {
        console.log(versionLine());
      }
    });
}
