/**
 * Getting a /dev/fuse fd mounted on a directory, and unmounting it.
 *
 * As root: open /dev/fuse and mount(2) it ("fd=N,rootmode=40000,user_id=U,group_id=G,...").
 * Otherwise (or when mount(2) is refused): the setuid fusermount3 helper mounts for us and
 * passes the fd back over a unix socket named by _FUSE_COMMFD, as one byte of data with the fd
 * in an SCM_RIGHTS control message; it exits once it has sent it.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  statfsSync,
  statSync,
} from "node:fs";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import { Errno, errnoName, OpenFlags } from "../posix.ts";
import { umountInWorker } from "./channel.ts";
import {
  closeFd,
  MNT_DETACH,
  mountSyscall,
  openPath,
  receiveFd,
  SyscallError,
  setCloseOnExec,
  umount2,
  unixSocketPair,
} from "./libc.ts";
import { findMount, JFS_FSTYPE } from "./mountinfo.ts";

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;

export interface MountRequest {
  /** Absolute path of the mount point. */
  dir: string;
  /** Shown as the mount's source by mount(8) and df. */
  fsname: string;
  allowOther: boolean;
  /** The kernel checks permission bits itself before asking us (like JuiceFS). */
  defaultPermissions: boolean;
  /** Use fusermount3 even as root (tests of the unprivileged path). */
  forceHelper?: boolean;
  /** A read-only mount: the kernel answers EROFS to every change before asking us. */
  readOnly?: boolean;
}

const isRoot = (): boolean => process.getuid?.() === 0;

function helperPath(): string | undefined {
  return Bun.which("fusermount3") ?? Bun.which("fusermount") ?? undefined;
}

/**
 * A FUSE mount whose server died answers every call with ENOTCONN. statfs asks: the kernel
 * may answer stat() from its attribute cache for a while, but it never caches statfs.
 */
export function isStaleMount(dir: string): boolean {
  try {
    statfsSync(dir);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOTCONN";
  }
}

/**
 * Makes `dir` ready to be mounted on: created when missing, a stale mount of a crashed jfs
 * detached. Refuses a live mount, a non-directory and a non-empty directory.
 */
export function prepareMountPoint(dir: string): void {
  if (!existsSync("/dev/fuse")) {
    throw new UserError(
      "/dev/fuse does not exist: load the fuse module (modprobe fuse) or pass the device to the container",
    );
  }
  if (isStaleMount(dir)) {
    log.warn(`${dir} is the mount point of a crashed jfs: detaching it`);
    detachStale(dir);
  }
  const mounted = findMount(dir);
  if (mounted?.fstype.startsWith("fuse")) {
    throw new UserError(
      `${dir} is already mounted (${mounted.fstype}); run jfs umount ${dir} first`,
    );
  }
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is not a directory`);
    if (readdirSync(dir).length > 0)
      throw new UserError(`${dir} is not empty: mount on an empty directory`);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`cannot use ${dir} as mount point: ${(error as Error).message}`);
  }
}

function detachStale(dir: string): void {
  try {
    unmountNow(dir, true);
  } catch (error) {
    throw new UserError(
      `${dir} is a stale mount that cannot be detached: ${(error as Error).message}`,
    );
  }
}

function mountOptions(req: MountRequest, extra: string[]): string {
  const opts = [...extra];
  if (req.defaultPermissions) opts.push("default_permissions");
  if (req.allowOther) opts.push("allow_other");
  return opts.join(",");
}

/** Mounts and returns the /dev/fuse fd of the new connection. */
export async function mountFuse(req: MountRequest): Promise<{ fd: number; via: string }> {
  if (isRoot() && !req.forceHelper) {
    const fd = openDevice();
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const data = mountOptions(req, [
      `fd=${fd}`,
      "rootmode=40000",
      `user_id=${uid}`,
      `group_id=${gid}`,
    ]);
    try {
      const flags = MS_NOSUID | MS_NODEV | (req.readOnly === true ? MS_RDONLY : 0);
      mountSyscall(req.fsname, req.dir, JFS_FSTYPE, flags, data);
      return { fd, via: "mount(2)" };
    } catch (error) {
      closeFd(fd);
      if (!(error instanceof SyscallError && error.errno === Errno.EPERM)) {
        throw new UserError(`cannot mount ${req.dir}: ${describeSyscall(error)}`);
      }
      log.debug("mount(2) refused (no CAP_SYS_ADMIN here): trying fusermount3");
    }
  }
  return { fd: await mountWithHelper(req), via: "fusermount3" };
}

function openDevice(): number {
  try {
    return openPath("/dev/fuse", OpenFlags.RDWR | OpenFlags.CLOEXEC);
  } catch (error) {
    if (
      error instanceof SyscallError &&
      (error.errno === Errno.EACCES || error.errno === Errno.EPERM)
    ) {
      throw new UserError("no permission to open /dev/fuse");
    }
    throw new UserError(`cannot open /dev/fuse: ${describeSyscall(error)}`);
  }
}

function describeSyscall(error: unknown): string {
  if (error instanceof SyscallError) {
    return `${error.call} failed: ${errnoName(error.errno)}`;
  }
  return String(error);
}

async function mountWithHelper(req: MountRequest): Promise<number> {
  const helper = helperPath();
  if (helper === undefined) {
    throw new UserError(
      `cannot mount ${req.dir}: not root and fusermount3 is not installed (apt install fuse3)`,
    );
  }
  try {
    // fusermount3 opens /dev/fuse as the calling user: say so before it fails less clearly.
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    throw new UserError(
      "no permission to open /dev/fuse: run as root, or make it usable by all (chmod 0666 /dev/fuse)",
    );
  }
  const [ours, theirs] = unixSocketPair();
  setCloseOnExec(ours, true);
  const rw = req.readOnly === true ? "ro" : "rw";
  const opts = mountOptions(req, [rw, "nosuid", "nodev", `fsname=${req.fsname}`, "subtype=jfs"]);
  let stderr = "";
  try {
    // The child gets `theirs` as fd 3; fusermount3 sends the /dev/fuse fd over it and exits.
    const child = spawn(helper, ["-o", opts, "--", req.dir], {
      stdio: ["ignore", "ignore", "pipe", theirs],
      env: { ...process.env, _FUSE_COMMFD: "3" },
    });
    closeFd(theirs);
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number>((resolve) => {
      child.on("error", () => resolve(-1));
      child.on("close", (c) => resolve(c ?? -1));
    });
    // The peer has exited: the fd is queued on the socket, or the socket is at EOF.
    const fd = receiveFd(ours);
    if (fd === undefined || code !== 0) {
      if (fd !== undefined) closeFd(fd);
      const why = stderr.trim() || `exit status ${code}`;
      throw new UserError(`cannot mount ${req.dir}: ${why}`);
    }
    setCloseOnExec(fd, true);
    return fd;
  } finally {
    closeFd(ours);
  }
}

/**
 * Unmounts right now, from a process that does not serve this mount (jfs umount). `lazy`
 * detaches even while files are open (MNT_DETACH / fusermount3 -z).
 */
export function unmountNow(dir: string, lazy: boolean): void {
  if (isRoot()) {
    try {
      umount2(dir, lazy ? MNT_DETACH : 0);
      return;
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      if (error.errno === Errno.EBUSY) {
        throw new UserError(
          `${dir} is busy: close the files open in it, or use jfs umount --force`,
        );
      }
      if (error.errno === Errno.EINVAL) throw new UserError(`${dir} is not mounted`);
      if (error.errno !== Errno.EPERM)
        throw new UserError(`cannot unmount ${dir}: ${describeSyscall(error)}`);
    }
  }
  const helper = helperPath();
  if (helper === undefined)
    throw new UserError(`cannot unmount ${dir}: not root and no fusermount3`);
  const r = spawnSync(helper, lazy ? ["-u", "-z", "--", dir] : ["-u", "--", dir], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    throw new UserError(
      `cannot unmount ${dir}: ${(r.stderr ?? "").trim() || `exit status ${r.status}`}`,
    );
  }
}

/**
 * Unmounting from the process that serves the mount: the kernel may send requests (flushes)
 * while unmounting, so the call runs on another thread (root) or in fusermount3. Resolves to
 * 0 or the errno (EBUSY when files are open).
 */
export async function unmountServed(dir: string, lazy: boolean): Promise<number> {
  if (isRoot()) {
    const errno = await umountInWorker(dir, lazy ? MNT_DETACH : 0);
    if (errno !== Errno.EPERM) return errno;
  }
  const helper = helperPath();
  if (helper === undefined) return Errno.EPERM;
  const child = spawn(helper, lazy ? ["-u", "-z", "--", dir] : ["-u", "--", dir], {
    stdio: "ignore",
  });
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  return code === 0 ? 0 : Errno.EBUSY;
}

/**
 * Raises the kernel's readahead for the mount's device (best effort: root only, and only
 * where sysfs is writable); see FUSE_READAHEAD_KIB.
 */
export async function tuneReadahead(major: number, minor: number, kib: number): Promise<void> {
  try {
    await Bun.write(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, `${kib}\n`);
  } catch (error) {
    log.debug(`cannot set read_ahead_kb of ${major}:${minor}: ${String(error)}`);
  }
}

/** Ends a connection whose mount is gone but still in use: pending calls fail with ENOTCONN. */
export async function abortConnection(deviceMinor: number): Promise<boolean> {
  try {
    await Bun.write(`/sys/fs/fuse/connections/${deviceMinor}/abort`, "1");
    return true;
  } catch {
    return false;
  }
}
