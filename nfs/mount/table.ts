/**
 * The list MOUNT DUMP reports: which client mounted which path. Advisory only (RFC 1813
 * appendix I says clients must not rely on it): kept in memory, bounded, oldest forgotten first.
 */
import { MOUNT_ENTRIES_MAX } from "../../src/limits.ts";

export interface MountEntry {
  /** ml_hostname: we record the client's address; we never resolve names. */
  hostname: string;
  directory: string;
}

export class MountTable {
  /** "hostname\0directory" → entry, in insertion order. */
  private readonly entries = new Map<string, MountEntry>();

  constructor(private readonly entriesMax = MOUNT_ENTRIES_MAX) {}

  add(hostname: string, directory: string): void {
    const key = `${hostname}\0${directory}`;
    this.entries.delete(key);
    this.entries.set(key, { hostname, directory });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.entriesMax) break;
      this.entries.delete(oldest);
    }
  }

  remove(hostname: string, directory: string): void {
    this.entries.delete(`${hostname}\0${directory}`);
  }

  removeAll(hostname: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.hostname === hostname) this.entries.delete(key);
    }
  }

  list(): MountEntry[] {
    return [...this.entries.values()];
  }
}
