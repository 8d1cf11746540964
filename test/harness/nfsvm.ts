/**
 * Where the nfs-vm tool is (a VM with a real Linux kernel NFS client, ../shared/tools/nfs-vm
 * next to the project, or where NFS_VM says), and whether it can run here.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const NFS_VM =
  [
    process.env.NFS_VM,
    join(import.meta.dir, "../../../shared/tools/nfs-vm/nfs-vm"),
    "/work/shared/tools/nfs-vm/nfs-vm",
  ].find((p): p is string => p !== undefined && existsSync(p)) ?? "nfs-vm (not found)";

/** The tool and qemu are both here (tests add what else they need). */
export const NFS_VM_RUNNABLE = existsSync(NFS_VM) && Bun.which("qemu-system-x86_64") !== null;
