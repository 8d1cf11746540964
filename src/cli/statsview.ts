/**
 * The rows of `jfs stats`, juicefs-stats style: sections of fixed-width columns, two header
 * lines (section titles, then column names). Pure text, no terminal control, so the same rows
 * read well in a terminal and in a log.
 *
 *   ----usage---- | -------fuse------- | --meta--- | -cache--- | -----------object-----------
 *  cpu   mem  buf |  ops   lat read  write|  ...
 */
import type { Rates } from "../metrics/rates.ts";

interface Column {
  name: string;
  width: number;
  value(r: Rates): string;
}

interface Section {
  title: (r: Rates) => string;
  columns: Column[];
}

const col = (name: string, width: number, value: (r: Rates) => string): Column => ({
  name,
  width,
  value,
});

/** 1023 → "1023", 12345 → "12.3k", 1.2e6 → "1.2M". */
export function compactCount(n: number): string {
  if (n < 1000) return n < 10 && n % 1 !== 0 ? n.toFixed(1) : String(Math.round(n));
  const units = ["k", "M", "G"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** Bytes in binary units, 3 significant digits at most: "0", "512", "12K", "1.5M", "3.2G". */
export function compactBytes(bytes: number): string {
  if (bytes < 1024) return String(Math.round(bytes));
  const units = ["K", "M", "G", "T", "P"];
  let v = bytes;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** Milliseconds: "0.12", "4.5", "120", "1.2k". */
export function compactMs(ms: number): string {
  if (ms === 0) return "0";
  if (ms < 1) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return compactCount(ms);
}

const FRONT_TITLES: Record<Rates["frontEnd"], string> = { fuse: "fuse", nfs: "nfs", gateway: "s3" };

const SECTIONS: Section[] = [
  {
    title: () => "usage",
    columns: [
      col("cpu", 5, (r) => `${Math.round(r.cpuPercent)}%`),
      col("mem", 6, (r) => compactBytes(r.residentBytes)),
      col("buf", 6, (r) => compactBytes(r.bufferUsedBytes)),
    ],
  },
  {
    title: (r) => FRONT_TITLES[r.frontEnd],
    columns: [
      col("ops", 6, (r) => compactCount(r.front.opsPerSec)),
      col("lat", 6, (r) => compactMs(r.front.latencyMs)),
      col("read", 6, (r) => compactBytes(r.readBytesPerSec)),
      col("write", 6, (r) => compactBytes(r.writeBytesPerSec)),
    ],
  },
  {
    title: () => "meta",
    columns: [
      col("txn", 6, (r) => compactCount(r.meta.opsPerSec)),
      col("lat", 6, (r) => compactMs(r.meta.latencyMs)),
    ],
  },
  {
    title: () => "cache",
    columns: [
      col("hit%", 5, (r) =>
        r.cacheHitRatio === undefined ? "-" : `${Math.round(r.cacheHitRatio * 100)}`,
      ),
      col("read", 6, (r) => compactBytes(r.cacheHitBytesPerSec)),
      col("used", 6, (r) => compactBytes(r.cacheUsedBytes)),
    ],
  },
  {
    title: () => "object",
    columns: [
      col("get", 5, (r) => compactCount(r.objectGetsPerSec)),
      col("put", 5, (r) => compactCount(r.objectPutsPerSec)),
      col("in", 6, (r) => compactBytes(r.objectGetBytesPerSec)),
      col("out", 6, (r) => compactBytes(r.objectPutBytesPerSec)),
      col("lat", 6, (r) => compactMs(r.object.latencyMs)),
      col("err", 4, (r) => compactCount(r.objectErrorsPerSec)),
    ],
  },
];

function sectionWidth(s: Section): number {
  return s.columns.reduce((w, c) => w + c.width, 0) + s.columns.length - 1;
}

function centered(title: string, width: number): string {
  const left = Math.max(0, Math.floor((width - title.length) / 2));
  return `${"-".repeat(left)}${title}`.padEnd(width, "-");
}

/** The two header lines; the front end's section is named after `frontEnd`. */
export function statsHeader(frontEnd: Rates["frontEnd"]): string {
  const probe = { frontEnd } as Rates;
  const titles = SECTIONS.map((s) => centered(s.title(probe), sectionWidth(s)));
  const names = SECTIONS.map((s) => s.columns.map((c) => c.name.padStart(c.width)).join(" "));
  return `${titles.join("|")}\n${names.join("|")}\n`;
}

export function statsRow(rates: Rates): string {
  const cells = SECTIONS.map((s) =>
    s.columns.map((c) => c.value(rates).padStart(c.width)).join(" "),
  );
  return `${cells.join("|")}\n`;
}
