/**
 * Flag parsing shared by the subcommands: numbers with ranges, sizes, and the one-line errors
 * they give.
 */
import { UserError } from "../errors.ts";

export function parseIntFlag(
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  const n = typeof value === "number" ? value : Number(String(value));
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    throw new UserError(`--${name} must be an integer ${range}, got "${String(value)}"`);
  }
  return n;
}

export function parseNumberFlag(name: string, value: unknown, min: number, max: number): number {
  const n = typeof value === "number" ? value : Number(String(value));
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UserError(`--${name} must be a number in ${min}..${max}, got "${String(value)}"`);
  }
  return n;
}

export function parseChoiceFlag<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
): T {
  const s = String(value);
  if (!(choices as readonly string[]).includes(s)) {
    throw new UserError(`--${name} must be one of ${choices.join(", ")}, got "${s}"`);
  }
  return s as T;
}

/** A flag's string value; cac gives numbers for numeric-looking strings. */
export function stringFlag(value: unknown): string | undefined {
  if (value === undefined || value === null || value === true || value === false) return undefined;
  return String(value);
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
