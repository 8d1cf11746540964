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
 * A barrier shared by concurrent callers (group commit across one sync): a caller that asks
 * while a sync is running waits for the next one, which starts after the running one ends and
 * so covers everything written before it was asked for; all who ask meanwhile share it. At
 * most one sync runs and one waits, however many callers ask.
 */
export class SharedSync {
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  /** syncs issued (for tests and benches). */
  syncs = 0;

  constructor(private readonly syncOnce: () => Promise<void>) {}

  sync(): Promise<void> {
    if (this.#running === undefined) return this.#start();
    this.#next ??= this.#running.then(
      () => this.#start(),
      () => this.#start(),
    );
    return this.#next;
  }

  /** Resolves once no sync runs or waits (whatever their outcome). */
  async idle(): Promise<void> {
    while (this.#running !== undefined || this.#next !== undefined) {
      await (this.#next ?? this.#running)?.catch(() => undefined);
    }
  }

  #start(): Promise<void> {
    this.#next = undefined;
    this.syncs++;
    const run = this.syncOnce().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }
}

/**
 * fsyncs of one directory shared by concurrent callers (group commit for names): N blocks
 * staged together cost two directory fsyncs instead of N.
 */
export class SharedDirSync extends SharedSync {
  constructor(readonly dir: string) {
    super(() => fsyncDir(dir));
  }
}
