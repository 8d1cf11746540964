/**
 * Where the nfs-vm tool is (a VM with a real Linux kernel NFS client, ../shared/tools/nfs-vm
 * next to the project, or where NFS_VM says), and whether it can run here. Tests run it through
 * test/harness/nfs-vm-watchdog, which boots the VM again when its kernel stalls while booting.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

const NFS_VM_TOOL = [
  process.env.NFS_VM,
  join(import.meta.dir, "../../../shared/tools/nfs-vm/nfs-vm"),
  "/work/shared/tools/nfs-vm/nfs-vm",
].find((p): p is string => p !== undefined && existsSync(p));

/** The command tests spawn: nfs-vm behind the boot watchdog. */
export const NFS_VM =
  NFS_VM_TOOL === undefined ? "nfs-vm (not found)" : join(import.meta.dir, "nfs-vm-watchdog");

/** The tool and qemu are both here (tests add what else they need). */
export const NFS_VM_RUNNABLE =
  NFS_VM_TOOL !== undefined && Bun.which("qemu-system-x86_64") !== null;
