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

/**
 * fsyncs of one directory shared by concurrent callers (group commit for names): a caller
 * that asks while a sync is running waits for the next one, which starts after the running
 * one ends and so covers every name made before it was asked for; all who ask meanwhile share
 * it. N blocks staged together cost two directory fsyncs instead of N.
 */
export class SharedDirSync {
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  /** fsyncs issued (for tests). */
  syncs = 0;

  constructor(readonly dir: string) {}

  sync(): Promise<void> {
    if (this.#running === undefined) return this.#start();
    this.#next ??= this.#running.then(
      () => this.#start(),
      () => this.#start(),
    );
    return this.#next;
  }

  #start(): Promise<void> {
    this.#next = undefined;
    this.syncs++;
    const run = fsyncDir(this.dir).finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }
}
