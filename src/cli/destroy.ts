/**
 * jfs destroy META-URL UUID — removes a volume: every object under NAME/ and all its meta.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { OBJECT_DELETE_CONCURRENCY } from "../limits.ts";
import { log } from "../log.ts";
import { openMeta } from "../meta/index.ts";
import { openStore } from "../volume/open.ts";

async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  for await (const line of console) {
    return /^y(es)?$/i.test(line.trim());
  }
  return false;
}

export function registerDestroy(cli: CAC): void {
  cli
    .command("destroy <META-URL> <UUID>", "Destroy a volume: all its data and metadata")
    .option("--yes", "Do not ask for confirmation")
    .option("--force", "Destroy even while sessions are live")
    .action(async (metaUrl: string, uuid: string, flags: { yes?: boolean; force?: boolean }) => {
      const meta = await openMeta(String(metaUrl), { create: false });
      try {
        const format = await meta.load();
        if (format.uuid !== String(uuid)) {
          throw new UserError(`UUID mismatch: ${meta.displayUrl} holds volume ${format.uuid}`);
        }
        // Sessions of killed nodes are expired first (by heartbeat age against their timeout).
        await meta.expireSessions();
        const sessions = await meta.listSessions();
        if (sessions.length > 0 && !flags.force) {
          throw new UserError(
            `volume "${format.name}" has ${sessions.length} live session(s); unmount them first or use --force`,
          );
        }
        if (
          !flags.yes &&
          !(await confirm(`Destroy volume "${format.name}" (${format.uuid}) and all its data?`))
        ) {
          throw new UserError("not confirmed; nothing was removed");
        }
        const store = openStore(format);
        let removed = 0;
        try {
          let startAfter: string | undefined;
          do {
            const page = await store.list("", startAfter, 1000);
            for (let i = 0; i < page.objects.length; i += OBJECT_DELETE_CONCURRENCY) {
              const batch = page.objects.slice(i, i + OBJECT_DELETE_CONCURRENCY);
              await Promise.all(batch.map((o) => store.delete(o.key)));
              removed += batch.length;
            }
            startAfter = page.nextStartAfter;
          } while (startAfter !== undefined);
        } finally {
          await store.close();
        }
        await meta.destroy();
        log.info(`volume "${format.name}" destroyed: ${removed} objects removed`);
      } finally {
        await meta.close();
      }
    });
}
