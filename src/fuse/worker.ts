/**
 * Worker thread of the FUSE front end (a second entry point of the compiled binary). Two roles:
 *
 * - "reader": blocks in read(2) on one /dev/fuse fd and posts each request to the main thread,
 *   which runs the VFS. FORGET and BATCH_FORGET are dropped here: jfs keeps no lookup counts and
 *   they need no reply. A shared counter of requests in flight is the back-pressure: at
 *   FUSE_IN_FLIGHT_MAX this thread stops reading until the main thread answers some.
 * - "notifier": writes notifications that may block in the kernel (a page invalidation waits
 *   for pages locked by reads in flight, which only the main thread can answer), so the main
 *   thread never writes them itself; each is acknowledged once written.
 * - "umount": one umount2(2) call. It must not run on the main thread, which has to keep
 *   answering the requests (flushes) the kernel sends while it unmounts.
 */
import { parentPort, workerData } from "node:worker_threads";
import { FUSE_IN_FLIGHT_MAX, FUSE_READ_BUFFER_BYTES } from "../limits.ts";
import { Errno } from "../posix.ts";
import { readFd, SyscallError, umount2, writevFd } from "./libc.ts";

export interface ReaderData {
  role: "reader";
  fd: number;
  /** Int32Array over it: [0] requests in flight (all readers), [1] stop flag. */
  shared: SharedArrayBuffer;
}

export interface NotifierData {
  role: "notifier";
  fd: number;
}

/** From the main thread to the notifier: one message to write. */
export interface NotifyJob {
  id: number;
  message: ArrayBuffer;
}

export interface UmountData {
  role: "umount";
  target: string;
  flags: number;
}

export type WorkerMessage =
  | { kind: "request"; fd: number; data: ArrayBuffer }
  | { kind: "end"; fd: number; errno: number }
  | { kind: "umounted"; errno: number }
  | { kind: "notified"; id: number; errno: number };

export const SHARED_IN_FLIGHT = 0;
export const SHARED_STOP = 1;

const OPCODE_FORGET = 2;
const OPCODE_BATCH_FORGET = 42;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function readLoop(data: ReaderData): void {
  const shared = new Int32Array(data.shared);
  const buf = new Uint8Array(FUSE_READ_BUFFER_BYTES);
  for (;;) {
    if (Atomics.load(shared, SHARED_STOP) !== 0) {
      post({ kind: "end", fd: data.fd, errno: 0 });
      return;
    }
    const inFlight = Atomics.load(shared, SHARED_IN_FLIGHT);
    if (inFlight >= FUSE_IN_FLIGHT_MAX) {
      Atomics.wait(shared, SHARED_IN_FLIGHT, inFlight, 1000);
      continue;
    }
    const n = readFd(data.fd, buf);
    if (n < 0) {
      const e = -n;
      // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: just retry.
      if (e === Errno.ENOENT || e === Errno.EINTR || e === Errno.EAGAIN) continue;
      // ENODEV: unmounted; ECONNABORTED: aborted; anything else ends this reader too.
      post({ kind: "end", fd: data.fd, errno: e === Errno.ECONNABORTED ? Errno.ENODEV : e });
      return;
    }
    if (n < 8) continue;
    const opcode = buf[4]! | (buf[5]! << 8) | (buf[6]! << 16) | (buf[7]! << 24);
    if (opcode === OPCODE_FORGET || opcode === OPCODE_BATCH_FORGET) continue;
    Atomics.add(shared, SHARED_IN_FLIGHT, 1);
    const copy = buf.slice(0, n).buffer;
    post({ kind: "request", fd: data.fd, data: copy }, [copy]);
  }
}

function umountOnce(data: UmountData): void {
  try {
    umount2(data.target, data.flags);
    post({ kind: "umounted", errno: 0 });
  } catch (error) {
    post({ kind: "umounted", errno: error instanceof SyscallError ? error.errno : -1 });
  }
}

function notifyLoop(data: NotifierData): void {
  parentPort?.on("message", (job: NotifyJob) => {
    const n = writevFd(data.fd, [new Uint8Array(job.message)]);
    post({ kind: "notified", id: job.id, errno: n < 0 ? -n : 0 });
  });
}

const data = workerData as ReaderData | NotifierData | UmountData | undefined;
if (data?.role === "reader") readLoop(data);
else if (data?.role === "notifier") notifyLoop(data);
else if (data?.role === "umount") umountOnce(data);
