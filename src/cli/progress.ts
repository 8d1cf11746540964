/**
 * Progress of long commands (warmup, gc, fsck, dump, load, rmr, bench, objbench, info and
 * summary of a directory) on stderr:
 * stdout carries results (and --json). On a terminal, one bar redrawn at most every 100 ms with
 * the count, the bytes, the rate and the ETA; elsewhere (a log, a pipe, CI) a plain line every
 * PROGRESS_LINE_MS and one when done, so a log shows the job moving without control codes. A
 * job done before its first line prints none: a quick command's stderr stays empty.
 * JFS_PROGRESS_LINE_MS sets the line interval (0: a line per step, as the tests use).
 * --quiet silences both. A total of 0 means "not known up front": no bar, no ETA.
 */
import { PROGRESS_LINE_MS } from "../limits.ts";
import { log } from "../log.ts";
import { formatBytes } from "./options.ts";

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export type ProgressUnit = "items" | "bytes";

export interface ProgressOptions {
  /** What `add` counts: items (files, objects, inodes), or bytes (a big file's phase). */
  unit?: ProgressUnit;
  /** Item name shown after the count ("files", "objects"). */
  noun?: string;
}

type Mode = "off" | "bar" | "lines";

/** The plain line interval: PROGRESS_LINE_MS unless JFS_PROGRESS_LINE_MS says otherwise. */
function lineIntervalMs(): number {
  const text = process.env.JFS_PROGRESS_LINE_MS;
  const ms = text === undefined || !/^[0-9]+$/.test(text) ? Number.NaN : Number(text);
  return Number.isSafeInteger(ms) ? ms : PROGRESS_LINE_MS;
}

function progressMode(): Mode {
  if (log.level < 3) return "off";
  return process.stderr.isTTY === true ? "bar" : "lines";
}

/** `83 s` -> `1:23`; hours when needed. */
export function clockText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh > 0 ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export class Progress {
  #done = 0;
  #bytes = 0;
  #lastDrawMs = 0;
  #finished = false;
  /** Plain lines printed so far: a done line only follows some. */
  #lines = 0;
  readonly #lineMs = lineIntervalMs();
  readonly #startMs = performance.now();
  readonly #mode: Mode;
  readonly #unit: ProgressUnit;
  readonly #noun: string;

  constructor(
    private readonly label: string,
    private readonly total: number,
    options: ProgressOptions = {},
  ) {
    this.#mode = progressMode();
    this.#unit = options.unit ?? "items";
    this.#noun = options.noun ?? "";
    // A plain log says the job started, so a slow first step is not silence.
    this.#lastDrawMs = this.#startMs;
  }

  /** Advances the count (items, or bytes when the unit is bytes), and the bytes of those items. */
  add(n = 1, bytes = 0): void {
    this.#done += n;
    this.#bytes += this.#unit === "bytes" ? n : bytes;
    this.#tick();
  }

  /** Bytes moved by items counted with add() (warmup's files, gc's objects). */
  addBytes(n: number): void {
    this.#bytes += n;
    this.#tick();
  }

  #tick(): void {
    if (this.#mode === "off") return;
    const now = performance.now();
    const every = this.#mode === "bar" ? REDRAW_MS : this.#lineMs;
    if (now - this.#lastDrawMs < every) return;
    this.#lastDrawMs = now;
    this.#draw(now);
  }

  /** `1200/5000 files  12.0 MiB  3.4 MiB/s  ETA 0:12`, the parts that apply. */
  #status(nowMs: number, finished: boolean): string {
    const seconds = Math.max(1e-3, (nowMs - this.#startMs) / 1000);
    const count =
      this.#unit === "bytes"
        ? `${formatBytes(this.#done)}${this.total > 0 ? `/${formatBytes(this.total)}` : ""}`
        : `${this.#done}${this.total > 0 ? `/${this.total}` : ""}${this.#noun ? ` ${this.#noun}` : ""}`;
    const parts = [count];
    if (this.#unit === "items" && this.#bytes > 0) parts.push(formatBytes(this.#bytes));
    const rate =
      this.#bytes > 0
        ? `${formatBytes(this.#bytes / seconds)}/s`
        : `${(this.#done / seconds).toFixed(1)}/s`;
    parts.push(rate);
    if (finished) parts.push(`in ${clockText(seconds)}`);
    else if (this.total > 0 && this.#done > 0 && this.#done < this.total) {
      parts.push(`ETA ${clockText(((this.total - this.#done) * seconds) / this.#done)}`);
    }
    return parts.join("  ");
  }

  #draw(nowMs: number, finished = false): void {
    const status = this.#status(nowMs, finished);
    if (this.#mode === "lines") {
      this.#lines++;
      process.stderr.write(`${this.label}: ${finished ? "done " : ""}${status}\n`);
      return;
    }
    const fraction = this.total > 0 ? Math.min(1, this.#done / this.total) : finished ? 1 : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}`;
    const pct = `${(fraction * 100).toFixed(0).padStart(3)}%`;
    const head = this.total > 0 || finished ? `[${bar}] ${pct} ` : "";
    // \x1b[K clears what a longer previous line left on the right.
    process.stderr.write(`\r${this.label.padEnd(20)} ${head}${status}\x1b[K`);
  }

  /** Draws the final state (the bar ends with a newline); a second call does nothing. */
  finish(): void {
    if (this.#mode === "off" || this.#finished) return;
    this.#finished = true;
    if (this.#mode === "lines" && this.#lines === 0) return;
    this.#draw(performance.now(), true);
    if (this.#mode === "bar") process.stderr.write("\n");
  }
}

/** Runs `task(i)` for i in [0, count) with `concurrency` workers, advancing `progress`. */
export async function runPool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
  progress?: Progress,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      await task(i);
      progress?.add();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  progress?.finish();
}

/** A fixed-width text table for results. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}
