/**
 * The hosts that took locks from this server, kept in a file across restarts (what knfsd's
 * statd keeps in /var/lib/nfs/sm): after a restart each is sent SM_NOTIFY, so its lock manager
 * reclaims during the grace period. A host is added on its first lock and dropped when it
 * reboots (its own SM_NOTIFY) or is freed (FREE_ALL). Writes go to a temp file renamed over
 * the list, one at a time; a write that fails is logged, never fatal (locks still work, the
 * restart notice is what is lost).
 *
 *   [{ "name": "client-a", "address": "10.0.0.5" }, ...]
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { RpcLogger } from "../rpc/dispatcher.ts";

export interface MonitoredHost {
  /** caller_name of its NLM calls. */
  name: string;
  /** Where its calls came from: where its statd is told. */
  address: string;
}

export class MonitorList {
  readonly #path: string | undefined;
  readonly #log: RpcLogger | undefined;
  readonly #hosts = new Map<string, MonitoredHost>();
  #writing: Promise<void> = Promise.resolve();

  /** `path` undefined: nothing is kept (tests, or a server that never restarts in place). */
  constructor(path: string | undefined, log?: RpcLogger) {
    this.#path = path;
    this.#log = log;
  }

  /** The hosts the last run recorded; they stay listed until they reboot or are freed. */
  async load(): Promise<MonitoredHost[]> {
    if (this.#path === undefined) return [];
    let text: string;
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed)) throw new Error(`${this.#path}: not a list of hosts`);
    for (const item of parsed as MonitoredHost[]) {
      if (typeof item?.name === "string" && typeof item.address === "string") {
        this.#hosts.set(keyOf(item), { name: item.name, address: item.address });
      }
    }
    return [...this.#hosts.values()];
  }

  add(host: MonitoredHost): void {
    if (this.#hosts.has(keyOf(host))) return;
    this.#hosts.set(keyOf(host), host);
    this.#save();
  }

  /** Drops every entry of the host called `name` (case-insensitive). */
  remove(name: string): void {
    const wanted = name.toLowerCase();
    let changed = false;
    for (const [key, host] of this.#hosts) {
      if (host.name.toLowerCase() === wanted) changed = this.#hosts.delete(key) || changed;
    }
    if (changed) this.#save();
  }

  /** Resolves once every change so far is on disk (or failed). */
  flushed(): Promise<void> {
    return this.#writing;
  }

  #save(): void {
    const path = this.#path;
    if (path === undefined) return;
    const text = `${JSON.stringify([...this.#hosts.values()])}\n`;
    this.#writing = this.#writing.then(async () => {
      try {
        await mkdir(dirname(path), { recursive: true });
        const temp = `${path}.tmp`;
        await writeFile(temp, text);
        await rename(temp, path);
      } catch (error) {
        this.#log?.warn(`nlm: cannot record the hosts holding locks in ${path}: ${String(error)}`);
      }
    });
  }
}

const keyOf = (host: MonitoredHost) => `${host.name}\0${host.address}`;
