/**
 * Reads the text exposition format back (what `jfs stats` scrapes, and what the tests check):
 * `name{label="value",...} number` lines; # HELP / # TYPE lines give each family's type. Bad
 * lines throw: the endpoint is ours, so a line we cannot read is a bug worth seeing.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: ParsedSample[];
  /** Family name → counter, gauge, histogram (from # TYPE). */
  types: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

export class ExpositionError extends Error {
  override name = "ExpositionError";
}

export function parseExposition(text: string): Exposition {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const type = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (type !== null) types.set(type[1]!, type[2]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new ExpositionError(`line ${i + 1}: not a sample: ${line.slice(0, 80)}`);
    samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? "", i + 1), value: parseValue(m[3]!) });
  }
  return { samples, types };
}

function parseLabels(text: string, lineNo: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (m === null || m.index !== at) throw new ExpositionError(`line ${lineNo}: bad labels`);
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  const n = Number(text);
  if (Number.isNaN(n)) throw new ExpositionError(`bad value ${text}`);
  return n;
}

/** The sum of every sample named `name` whose labels include `where`. */
export function sumOf(
  samples: readonly ParsedSample[],
  name: string,
  where: Record<string, string> = {},
): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
