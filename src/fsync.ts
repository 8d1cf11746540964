import { open } from "node:fs/promises";

/**
 * fsync of a directory: makes the names created, renamed or removed in it durable (a file's own
 * fsync does not cover its directory entry). Used by the file object store and the disk cache.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
