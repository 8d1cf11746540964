/**
 * A one-line progress bar on stderr for long commands (bench, objbench, warmup). It redraws
 * at most every 100 ms, and prints nothing when stderr is not a terminal or --quiet is set.
 */
import { log } from "../log.ts";

const REDRAW_MS = 100;
const BAR_WIDTH = 30;

export class Progress {
  #done = 0;
  #lastDrawMs = 0;
  readonly #enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {
    this.#enabled = process.stderr.isTTY === true && log.level >= 3;
  }

  add(n = 1): void {
    this.#done += n;
    const now = performance.now();
    if (now - this.#lastDrawMs >= REDRAW_MS || this.#done >= this.total) {
      this.#lastDrawMs = now;
      this.#draw();
    }
  }

  #draw(): void {
    if (!this.#enabled) return;
    const fraction = this.total > 0 ? Math.min(1, this.#done / this.total) : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}`;
    const pct = (fraction * 100).toFixed(0).padStart(3);
    process.stderr.write(`\r${this.label.padEnd(24)} [${bar}] ${pct}% ${this.#done}/${this.total}`);
  }

  finish(): void {
    if (!this.#enabled) return;
    this.#draw();
    process.stderr.write("\n");
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
