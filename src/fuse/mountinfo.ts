/**
 * /proc/self/mountinfo (proc(5)): which mounts exist, of what type, on which device. Reading it
 * never touches the mounted file systems, so a server may read it about its own mount point
 * (a stat() of that mount point from the serving thread would wait for itself forever).
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   id parent major:minor root mount-point options [optional...] - fstype source super-options
 */
import { readFileSync } from "node:fs";

export interface MountEntry {
  id: number;
  major: number;
  minor: number;
  mountPoint: string;
  fstype: string;
  source: string;
}

/** Undoes the kernel's octal escapes of space, tab, newline and backslash (\040 etc.). */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 6 || fields.length < dash + 3) continue;
    const [major, minor] = (fields[2] ?? "").split(":").map(Number);
    if (major === undefined || minor === undefined) continue;
    out.push({
      id: Number(fields[0]),
      major,
      minor,
      mountPoint: unescapeField(fields[4] ?? ""),
      fstype: fields[dash + 1] ?? "",
      source: unescapeField(fields[dash + 2] ?? ""),
    });
  }
  return out;
}

export function readMountInfo(): MountEntry[] {
  return parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
}

/** The topmost mount on `dir` (an absolute, resolved path), if any. */
export function findMount(dir: string, mounts = readMountInfo()): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const m of mounts) if (m.mountPoint === dir) found = m;
  return found;
}

/** The fstype our mounts carry: "fuse." + subtype, as mount(8) and df show it. */
export const JFS_FSTYPE = "fuse.jfs";
