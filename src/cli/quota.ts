/**
 * jfs quota set|get|list|delete [META-URL] --path DIR [--capacity GiB] [--inodes N] — directory
 * quotas, like `juicefs quota`. The limits and the usage live in meta (src/meta/quota.ts), so
 * every running mount, NFS server and gateway enforces a new quota from its next operation.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { ROOT_INODE, Units } from "../limits.ts";
import type { BaseMeta } from "../meta/base.ts";
import { FileType, type Ino, ROOT_CREDENTIALS } from "../meta/interface.ts";
import type { QuotaRecord } from "../meta/txn.ts";
import { openVolume } from "../volume/open.ts";
import { formatBytes, parseIntFlag, parseNumberFlag, stringFlag } from "./options.ts";

const ACTIONS = ["set", "get", "list", "delete"] as const;
type Action = (typeof ACTIONS)[number];

interface QuotaFlags {
  path?: unknown;
  capacity?: unknown;
  inodes?: unknown;
  json?: boolean;
}

/** The inode of directory `path` of the volume ("/a/b"); one clear line when it is not one. */
async function directoryAt(meta: BaseMeta, action: Action, path: string): Promise<Ino> {
  let ino: Ino = ROOT_INODE;
  let type: FileType = FileType.Directory;
  for (const part of path.split("/").filter((p) => p !== "" && p !== ".")) {
    try {
      ({
        inode: ino,
        attr: { type },
      } = await meta.lookup(ROOT_CREDENTIALS, ino, Buffer.from(part)));
    } catch {
      throw new UserError(`quota ${action}: --path ${path}: no such directory in the volume`);
    }
  }
  if (type !== FileType.Directory) {
    throw new UserError(
      `quota ${action}: --path ${path}: not a directory (quotas are per directory)`,
    );
  }
  return ino;
}

/** Capacity in GiB (a fraction allowed: 0.5 is 512 MiB), 0 = unlimited. */
function capacityBytes(value: unknown): number {
  return Math.floor(parseNumberFlag("capacity", value, 0, 2 ** 23) * Units.GiB);
}

interface Shown {
  path: string;
  capacityBytes: number;
  inodes: number;
  usedBytes: number;
  usedInodes: number;
}

function line(q: Shown): string {
  const pct = (used: number, max: number) =>
    max > 0 ? ` (${Math.round((used / max) * 100)}%)` : "";
  const space = `${formatBytes(Math.max(0, q.usedBytes))} of ${q.capacityBytes > 0 ? formatBytes(q.capacityBytes) : "unlimited"}`;
  const inodes = `${q.usedInodes} of ${q.inodes > 0 ? q.inodes : "unlimited"} inodes`;
  return `${q.path}: ${space}${pct(q.usedBytes, q.capacityBytes)}, ${inodes}${pct(q.usedInodes, q.inodes)}`;
}

async function shown(meta: BaseMeta, q: QuotaRecord): Promise<Shown> {
  const { capacityBytes, inodes, usedBytes, usedInodes } = q;
  return { path: await meta.directoryPath(q.inode), capacityBytes, inodes, usedBytes, usedInodes };
}

function print(quotas: Shown[], json: boolean): void {
  if (json) console.log(JSON.stringify(quotas.length === 1 ? quotas[0] : { quotas }));
  else for (const q of quotas) console.log(line(q));
}

async function run(meta: BaseMeta, action: Action, flags: QuotaFlags): Promise<void> {
  const json = flags.json === true;
  if (action === "list") {
    const all = await meta.listQuotas();
    if (!json && all.length === 0) console.log("no directory quotas");
    const list = await Promise.all(all.map((q) => shown(meta, q)));
    if (json) console.log(JSON.stringify({ quotas: list }));
    else print(list, false);
    return;
  }
  const path = stringFlag(flags.path);
  if (path === undefined) throw new UserError(`quota ${action}: give --path DIR`);
  const ino = await directoryAt(meta, action, path);
  const existing = (await meta.listQuotas()).find((q) => q.inode === ino);
  if (action === "get") {
    if (!existing) throw new UserError(`quota get: ${path} has no quota`);
    print([await shown(meta, existing)], json);
  } else if (action === "delete") {
    if (!(await meta.deleteQuota(ino))) throw new UserError(`quota delete: ${path} has no quota`);
    if (!json) console.log(`quota on ${path} deleted`);
  } else {
    if (flags.capacity === undefined && flags.inodes === undefined) {
      throw new UserError("quota set: give --capacity GiB and/or --inodes N (0 = unlimited)");
    }
    const limits = {
      capacityBytes:
        flags.capacity === undefined
          ? (existing?.capacityBytes ?? 0)
          : capacityBytes(flags.capacity),
      inodes:
        flags.inodes === undefined
          ? (existing?.inodes ?? 0)
          : parseIntFlag("inodes", flags.inodes, 0),
    };
    print([await shown(meta, await meta.setQuota(ino, limits))], json);
  }
}

export function registerQuota(cli: CAC): void {
  cli
    .command("quota <ACTION> [META-URL]", "Directory quotas: set, get, list or delete")
    .option("--path <dir>", "The directory, as a path of the volume (/projects/a)")
    .option(
      "--capacity <GiB>",
      "Space below the directory in GiB (fractions allowed), 0 = unlimited",
    )
    .option("--inodes <count>", "Files and directories below it, 0 = unlimited")
    .option("--json", "Print JSON, for scripts")
    .example("jfs quota set redis://127.0.0.1/1 --path /projects/a --capacity 100 --inodes 1000000")
    .action(async (actionArg: unknown, metaUrl: string | undefined, flags: QuotaFlags) => {
      const action = String(actionArg);
      if (!(ACTIONS as readonly string[]).includes(action)) {
        throw new UserError(`quota: unknown action "${action}" (set, get, list or delete)`);
      }
      // Numbers are checked before anything is opened, as every command's flags are.
      if (flags.capacity !== undefined) capacityBytes(flags.capacity);
      if (flags.inodes !== undefined) parseIntFlag("inodes", flags.inodes, 0);
      const { meta } = await openVolume(metaUrl === undefined ? undefined : String(metaUrl));
      try {
        await run(meta, action as Action, flags);
      } finally {
        await meta.close();
      }
    });
}
