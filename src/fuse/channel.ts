/**
 * The /dev/fuse side of a session: reader threads (one per fd, each fd after the first a
 * FUSE_DEV_IOC_CLONE of the mount's fd so the kernel queues requests to them in parallel) hand
 * requests to the main thread; replies are written from the main thread with one writev(2)
 * each, to the fd the request came from (the kernel tracks a request on the fd that read it).
 *
 * Writing replies on the main thread is cheap: a reply write never blocks (the kernel copies it
 * to the waiting request and returns), and it saves a hop through a worker per reply.
 */
import { Worker } from "node:worker_threads";
import { assert } from "../assert.ts";
import { FUSE_KEEP_ALIVE_MS, FUSE_READER_THREADS } from "../limits.ts";
import { log } from "../log.ts";
import { Errno } from "../posix.ts";
import { cloneFuseFd, closeFd, writevFd } from "./libc.ts";
import {
  type NotifierData,
  type NotifyJob,
  type ReaderData,
  SHARED_IN_FLIGHT,
  SHARED_STOP,
  type UmountData,
  type WorkerMessage,
} from "./worker.ts";

export type RequestHandler = (request: Buffer, fd: number) => void;

/**
 * The worker entry point: a sibling file in development; in the compiled binary
 * (bun build --compile src/main.ts src/fuse/worker.ts) it is embedded as fuse/worker.js beside
 * the main bundle, paths relative to the entries' common root src/, and this module is part of
 * the main bundle, so its URL is the binary's.
 */
export function workerUrl(): URL {
  const here = import.meta.url;
  return new URL(here.includes("/$bunfs/") ? "./fuse/worker.ts" : "./worker.ts", here);
}

export class FuseChannel {
  readonly #fds: number[] = [];
  readonly #workers: Worker[] = [];
  readonly #shared = new SharedArrayBuffer(8);
  readonly #counters = new Int32Array(this.#shared);
  #live = 0;
  #closed = false;
  /**
   * A ref'd timer for as long as the connection is live: the reader threads are unref'd (one
   * blocked in read(2) cannot be stopped, and must not hold the process at exit), so without
   * it nothing would hold the event loop open while requests can still arrive. `jfs mount`
   * then waits for `ended` in main's top-level await with an idle loop, which Bun 1.4 turns
   * into a busy spin (the entry's waitForPromise polls epoll with a zero timeout: a core
   * 30-90% busy doing nothing, oven-sh/bun#14951), and which Node and later Bun end with
   * exit 13 ("unsettled top-level await"). A live mount is like a listening socket: it keeps
   * the process up, and the loop sleeps in epoll_wait until a request comes.
   */
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #endErrno = 0;
  #resolveEnded: (() => void) | undefined;
  /** Resolves when every reader has stopped: the kernel connection is gone (unmounted). */
  readonly ended: Promise<void>;

  constructor(
    readonly fd: number,
    private readonly onRequest: RequestHandler,
  ) {
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
  }

  /** Starts `readers` reader threads; clones beyond the first are best effort. */
  start(readers = FUSE_READER_THREADS): void {
    assert(this.#workers.length === 0 && readers >= 1, "channel starts once");
    this.#fds.push(this.fd);
    for (let i = 1; i < readers; i++) {
      try {
        this.#fds.push(cloneFuseFd(this.fd));
      } catch (error) {
        log.debug(`FUSE_DEV_IOC_CLONE failed, using ${this.#fds.length} reader(s): ${error}`);
        break;
      }
    }
    for (const fd of this.#fds) this.#startReader(fd);
    this.#keepAlive = setInterval(() => undefined, FUSE_KEEP_ALIVE_MS);
  }

  #releaseLoop(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  #startReader(fd: number): void {
    const data: ReaderData = { role: "reader", fd, shared: this.#shared };
    const worker = new Worker(workerUrl(), { workerData: data });
    worker.on("message", (m: WorkerMessage) => {
      if (m.kind === "request") this.onRequest(Buffer.from(m.data), m.fd);
      else if (m.kind === "end") this.#readerEnded(m.errno);
    });
    worker.on("error", (error) => {
      log.error(`FUSE reader thread failed: ${String(error)}`);
      this.#readerEnded(Errno.ENODEV);
    });
    worker.unref();
    this.#workers.push(worker);
    this.#live++;
  }

  #readerEnded(errno: number): void {
    if (errno !== 0 && errno !== Errno.ENODEV) {
      log.error(`reading /dev/fuse failed: errno ${errno}`);
      this.#endErrno = errno;
    }
    this.#live--;
    if (this.#live === 0) {
      this.#releaseLoop();
      this.#resolveEnded?.();
    }
  }

  get endErrno(): number {
    return this.#endErrno;
  }

  /** Writes one reply; a request the kernel gave up on (interrupted, unmounted) is no error. */
  reply(fd: number, pieces: readonly Uint8Array[]): void {
    const n = writevFd(fd, pieces);
    if (n >= 0) return;
    const e = -n;
    if (e !== Errno.ENOENT && e !== Errno.ENODEV) log.warn(`FUSE reply write failed: errno ${e}`);
  }

  /** Writes a notification; one about an inode the kernel no longer caches is no error. */
  notify(message: Uint8Array): void {
    const n = writevFd(this.fd, [message]);
    if (n < 0 && -n !== Errno.ENOENT && -n !== Errno.ENODEV) {
      log.warn(`FUSE notification failed: errno ${-n}`);
    }
  }

  #notifier: Worker | undefined;
  #notifyNextId = 1;
  readonly #notifyPending = new Map<number, () => void>();

  /**
   * Writes a notification on the notifier thread (worker.ts): for those the kernel may block
   * on until this thread answers other requests (page invalidation). Resolves once written.
   */
  notifyOffThread(message: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#notifier === undefined) {
      const data: NotifierData = { role: "notifier", fd: this.fd };
      const worker = new Worker(workerUrl(), { workerData: data });
      worker.on("message", (m: WorkerMessage) => {
        if (m.kind !== "notified") return;
        if (m.errno !== 0 && m.errno !== Errno.ENOENT && m.errno !== Errno.ENODEV) {
          log.warn(`FUSE notification failed: errno ${m.errno}`);
        }
        this.#notifyPending.get(m.id)?.();
        this.#notifyPending.delete(m.id);
      });
      worker.on("error", (error) => {
        log.error(`FUSE notifier thread failed: ${String(error)}`);
        for (const done of this.#notifyPending.values()) done();
        this.#notifyPending.clear();
        this.#notifier = undefined;
      });
      worker.unref();
      this.#notifier = worker;
    }
    const id = this.#notifyNextId++;
    const copy = new Uint8Array(message).buffer;
    const job: NotifyJob = { id, message: copy };
    return new Promise((resolve) => {
      this.#notifyPending.set(id, resolve);
      this.#notifier?.postMessage(job, [copy]);
    });
  }

  /** A request got its reply (or needed none): the readers may take another. */
  done(): void {
    Atomics.sub(this.#counters, SHARED_IN_FLIGHT, 1);
    Atomics.notify(this.#counters, SHARED_IN_FLIGHT);
  }

  /**
   * Closes every fd and lets the threads go. Meant for after `ended` (the readers have
   * returned); a reader still blocked in read(2) cannot be interrupted, and closing its fd
   * aborts nothing, so this never waits for one.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#releaseLoop();
    Atomics.store(this.#counters, SHARED_STOP, 1);
    Atomics.notify(this.#counters, SHARED_IN_FLIGHT);
    for (const w of this.#workers) void w.terminate();
    if (this.#notifier !== undefined) void this.#notifier.terminate();
    for (const done of this.#notifyPending.values()) done();
    this.#notifyPending.clear();
    for (const fd of this.#fds) closeFd(fd);
    this.#fds.length = 0;
  }
}

/** umount2(2) on a worker thread, so this thread keeps answering the kernel meanwhile. */
export function umountInWorker(target: string, flags: number): Promise<number> {
  return new Promise((resolve) => {
    const data: UmountData = { role: "umount", target, flags };
    const worker = new Worker(workerUrl(), { workerData: data });
    worker.once("message", (m: WorkerMessage) => {
      if (m.kind === "umounted") resolve(m.errno);
      void worker.terminate();
    });
    worker.once("error", () => resolve(-1));
  });
}
