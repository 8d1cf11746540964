/**
 * Fills the machine's free memory with clean page cache before a timed phase, so that the
 * phase's own page cache (a server's buffered writes, a client's copy into tmpfs) is carved out
 * of reclaimed pages rather than out of free ones.
 *
 * Why: this machine is a Firecracker guest with free page reporting (virtio_balloon, and the
 * kernel's `page_reporting` module with `min_free_ms` 0). Free pages are handed back to the host
 * within moments, and the next touch of each one faults it in from the host again. A `dd` of
 * 1 GiB into a new file runs at 0.37-0.49 GB/s into such pages and at 1.5-5.5 GB/s into pages
 * reclaimed from the page cache; it was 50% of `jfs serve --nfs`'s samples during nfs-cp
 * writes. Touching memory once and freeing it (what this module did before) does not help: the
 * pages are reported again before the bench reaches them.
 *
 * The filler reads a new sparse file (holes cost no disk I/O; ext4 caches them as zeroed
 * pages) until only FREE_LEFT_BYTES stay free. Read once, its pages sit on the inactive list,
 * so reclaim takes them before anything the bench read twice.
 *
 *   const filler = new PageCacheFiller(dir); // dir on a disk file system, not tmpfs
 *   filler.topUp();                         // before each timed phase
 *   filler.remove();                        // at the end
 */
import { closeSync, openSync, readFileSync, readSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";

const MiB = 1 << 20;
/**
 * Left free: above the kernel's watermarks (about 100 MiB high on this 24 GiB machine), so a
 * top-up never throttles the machine itself, and small enough that a phase's writes reclaim at
 * once. With 1 GiB left, the first GiB written after a fill landed in reported free pages: a
 * 1 GiB dd ran at 810 MB/s, the next at 3.6 GB/s; with 256 MiB left, the first ran at 3.5.
 */
const FREE_LEFT_BYTES = 256 * MiB;
/** A fill at least this big, from well above the watermarks, must take the memory it read. */
const BIG_FILL_BYTES = 4096 * MiB;
/** Below this much to fill, a top-up does nothing. */
const TOP_UP_BYTES_MIN = 256 * MiB;

function meminfoBytes(field: string): number {
  try {
    const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(
      readFileSync("/proc/meminfo", "utf8"),
    )?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

export class PageCacheFiller {
  readonly #dir: string;
  readonly #files: string[] = [];

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Fills free memory down to FREE_LEFT_BYTES with page cache; the bytes read. */
  topUp(): number {
    const bytes = Math.floor((meminfoBytes("MemFree") - FREE_LEFT_BYTES) / MiB) * MiB;
    if (bytes < TOP_UP_BYTES_MIN) return 0;
    const path = join(this.#dir, `page-cache-fill.${this.#files.length}`);
    this.#files.push(path);
    closeSync(openSync(path, "w"));
    truncateSync(path, bytes);
    const freeBefore = meminfoBytes("MemFree");
    const fd = openSync(path, "r");
    try {
      const buffer = Buffer.allocUnsafe(MiB);
      for (let at = 0; at < bytes; at += MiB) readSync(fd, buffer, 0, MiB, at);
    } finally {
      closeSync(fd);
    }
    // A top-up near the watermarks reclaims older page cache as it reads, so free memory need
    // not fall by what it read: only a first, big fill says whether the pages were kept.
    const taken = freeBefore - meminfoBytes("MemFree");
    if (bytes >= BIG_FILL_BYTES && taken < bytes / 2) {
      console.warn(`page cache fill in ${this.#dir} took only ${taken} B`);
    }
    return bytes;
  }

  /** Removes the fill files (their pages go back to the free lists). */
  remove(): void {
    for (const path of this.#files.splice(0)) rmSync(path, { force: true });
  }
}

if (import.meta.main) {
  const filler = new PageCacheFiller(process.argv[2] ?? ".");
  console.log(
    `filled ${(filler.topUp() / MiB).toFixed(0)} MiB; remove ${process.argv[2] ?? "."}/page-cache-fill.*`,
  );
}
