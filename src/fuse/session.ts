/**
 * A mounted FUSE session: the mount, the reader threads, the dispatcher over the VFS.
 *
 * It ends when the kernel connection ends: an unmount from outside (jfs umount, umount(8)),
 * or stop(). stop() unmounts; when files are still open it detaches the mount lazily, serves
 * the open files for up to FUSE_STOP_GRACE_MS, then aborts the connection. The VFS is the
 * caller's: close it (flushing buffered writes) once `ended` resolves.
 */
import { FUSE_READAHEAD_KIB, FUSE_STOP_GRACE_MS } from "../limits.ts";
import { log } from "../log.ts";
import { Errno } from "../posix.ts";
import type { Vfs } from "../vfs/interface.ts";
import { FuseChannel } from "./channel.ts";
import { Dispatcher } from "./dispatch.ts";
import { GroupsCache } from "./groups.ts";
import {
  abortConnection,
  type MountRequest,
  mountFuse,
  prepareMountPoint,
  tuneReadahead,
  unmountServed,
} from "./mount.ts";
import { findMount } from "./mountinfo.ts";
import { type FuseConfig, OpState } from "./state.ts";

export interface FuseSessionOptions extends FuseConfig, Omit<MountRequest, "dir"> {
  /** The volume inode shown as the mount's root (--subdir); the volume root without. */
  rootIno?: number;
}

function sleep(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => setTimeout(() => resolve("timeout"), ms).unref());
}

export class FuseSession {
  #stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly via: string,
    private readonly channel: FuseChannel,
    readonly dispatcher: Dispatcher,
    /** Minor number of the mount's device: the connection's name under /sys/fs/fuse. */
    private readonly deviceMinor: number | undefined,
  ) {}

  /** Mounts `vfs` on `dir` (absolute) and starts serving it. */
  static async start(vfs: Vfs, dir: string, options: FuseSessionOptions): Promise<FuseSession> {
    prepareMountPoint(dir);
    const { fd, via } = await mountFuse({ ...options, dir });
    const state = new OpState(vfs, options, options.rootIno);
    let dispatcher: Dispatcher | undefined;
    const channel = new FuseChannel(fd, (raw, from) => dispatcher?.handle(raw, from));
    dispatcher = new Dispatcher(state, new GroupsCache(), channel);
    state.notify = (message) => channel.notify(message);
    state.notifyOffThread = (message) => channel.notifyOffThread(message);
    const mounted = findMount(dir);
    // The INIT reply sets the kernel's readahead; raise it once that is written.
    dispatcher.onInit = () => {
      if (mounted !== undefined)
        void tuneReadahead(mounted.major, mounted.minor, FUSE_READAHEAD_KIB);
    };
    channel.start(options.readers);
    const session = new FuseSession(dir, via, channel, dispatcher, mounted?.minor);
    dispatcher.onDestroy = () => log.debug("FUSE DESTROY received");
    log.info(`mounted ${options.fsname} on ${dir} (${via})`);
    return session;
  }

  /** Resolves when the kernel connection is gone; the fds are closed then. */
  get ended(): Promise<void> {
    return this.channel.ended.then(() => this.channel.close());
  }

  /** Unmounts (lazily when busy) and waits for the connection to end. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    let errno = await unmountServed(this.dir, false);
    if (errno === Errno.EBUSY) {
      log.warn(`${this.dir} is busy: detaching it; open files are served for a while`);
      errno = await unmountServed(this.dir, true);
    }
    if (errno !== 0 && errno !== Errno.EINVAL) log.warn(`unmount ${this.dir}: errno ${errno}`);
    if ((await Promise.race([this.channel.ended, sleep(FUSE_STOP_GRACE_MS)])) === "timeout") {
      log.warn("FUSE connection still in use: aborting it");
      if (this.deviceMinor === undefined || !(await abortConnection(this.deviceMinor))) {
        log.warn("cannot abort the FUSE connection; exiting anyway");
        this.channel.close();
        return;
      }
      await this.channel.ended;
    }
    this.channel.close();
  }
}
