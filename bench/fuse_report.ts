/**
 * The markdown of bench/fuse.ts: one table of figures with jfs's speed ratio to each peer
 * measured in the same run, the CPU each party used, the jfs small-file profile, the commands.
 */

import type { OpProfile, Profile } from "./fuse_profile_run.ts";
import type { Cpu } from "./fuse_run.ts";

export interface CpuShare extends Cpu {
  wallS: number;
}

export interface SuiteResult {
  name: string;
  commands: string[];
  seqWriteS: number;
  seqWriteDurableS: number;
  seqReadColdS: number;
  seqReadHotS: number;
  randReadS: number;
  small: Record<"create" | "stat" | "read" | "remove", number>;
  datasetWriteS: number;
  /** FILES files of 16 KiB created by 8 writer processes at once (absent from older runs). */
  parCreateS?: number;
  epochS: number[];
  cpu: Record<string, CpuShare>;
  /** Peak RSS (VmHWM) of the mount process, the highest over the run's mounts (issue 12 item 5). */
  peakRssMiB?: number;
}

export interface ReportInput {
  results: SuiteResult[];
  profile: Profile | undefined;
  latency: { putMs: number; getMs: number };
  bigMiB: number;
  files: number;
  randReads: number;
  /** 1-minute load average when the run started and ended (the machine may be shared). */
  loadAverage: [number, number];
}

interface Row {
  label: string;
  unit: string;
  /** Higher is better (a rate), or lower is better (seconds). */
  higherBetter: boolean;
  value: (r: SuiteResult) => number;
}

function rows(input: ReportInput): Row[] {
  const { bigMiB, files, randReads } = input;
  const rate = (label: string, unit: string, amount: number, s: (r: SuiteResult) => number) => ({
    label,
    unit,
    higherBetter: true,
    value: (r: SuiteResult) => amount / s(r),
  });
  const big = `${bigMiB} MiB`;
  return [
    rate(`seq write ${big}, to close`, "MiB/s", bigMiB, (r) => r.seqWriteS),
    rate(
      `seq write ${big}, until unmounted (all in S3)`,
      "MiB/s",
      bigMiB,
      (r) => r.seqWriteDurableS,
    ),
    rate(`seq read ${big}, cold (remount, caches emptied)`, "MiB/s", bigMiB, (r) => r.seqReadColdS),
    rate(`seq read ${big}, hot (read again)`, "MiB/s", bigMiB, (r) => r.seqReadHotS),
    rate("4 KiB random reads, cached file", "IOPS", randReads, (r) => r.randReadS),
    rate(`${files} × 16 KiB: create`, "files/s", files, (r) => r.small.create),
    rate(`${files} × 16 KiB: stat`, "files/s", files, (r) => r.small.stat),
    rate(`${files} × 16 KiB: read`, "files/s", files, (r) => r.small.read),
    rate(`${files} × 16 KiB: remove`, "files/s", files, (r) => r.small.remove),
    rate(
      `${files} × 16 KiB: create, 8 writers at once`,
      "files/s",
      files,
      (r) => r.parCreateS ?? Number.NaN,
    ),
    rate(`DataLoader dataset write (${files} files)`, "files/s", files, (r) => r.datasetWriteS),
    {
      label: "DataLoader epoch 1 (cold)",
      unit: "s",
      higherBetter: false,
      value: (r) => r.epochS[0] ?? Number.NaN,
    },
    {
      label: "DataLoader epoch 2 (hot)",
      unit: "s",
      higherBetter: false,
      value: (r) => r.epochS[1] ?? Number.NaN,
    },
    {
      label: "peak RSS of the mount process, whole run",
      unit: "MiB",
      higherBetter: false,
      value: (r) => r.peakRssMiB ?? Number.NaN,
    },
  ];
}

const num = (v: number) =>
  !Number.isFinite(v) ? "–" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

function figuresTable(input: ReportInput): string {
  const names = input.results.map((r) => r.name);
  const isJfs = (r: SuiteResult) => r.name.startsWith("jfs");
  const subjects = input.results.filter(isJfs);
  const peers = input.results.filter((r) => !isJfs(r));
  const pairs = subjects.flatMap((j) => peers.map((p) => [j, p] as const));
  const head = ["workload", "unit", ...names, ...pairs.map(([j, p]) => `${j.name} ÷ ${p.name}`)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const row of rows(input)) {
    const values = input.results.map((r) => num(row.value(r)));
    const ratios = pairs.map(([j, p]) => {
      const [a, b] = [row.value(j), row.value(p)];
      const speed = row.higherBetter ? a / b : b / a;
      return Number.isFinite(speed) ? `${speed.toFixed(2)}×` : "–";
    });
    lines.push(`| ${[row.label, row.unit, ...values, ...ratios].join(" | ")} |`);
  }
  return lines.join("\n");
}

function cpuTable(input: ReportInput): string {
  const head = ["file system", "workload", "wall s", "workload", "fs process", "s3rver", "gate"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of input.results) {
    for (const [what, c] of Object.entries(r.cpu)) {
      const cores = (s: number) => (c.wallS > 0 ? (s / c.wallS).toFixed(2) : "–");
      const cells = [r.name, what, c.wallS.toFixed(1), cores(c.workloadS), cores(c.fsS)];
      cells.push(cores(c.s3rverS), cores(c.gateS));
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

function profileText(profile: Profile | undefined, input: ReportInput): string {
  if (profile === undefined) return "";
  const lines = [
    "| phase | requests / file | served ms / file | wall ms / file | FUSE requests (per file × mean ms) | backend calls (per file × mean ms) |",
    "|---|---|---|---|---|---|",
  ];
  for (const [phase, p] of Object.entries(profile.phases)) {
    const list = (ops: OpProfile[]) =>
      ops
        .slice(0, 7)
        .map((o) => `${o.op} ${o.perFile.toFixed(2)}×${o.meanMs.toFixed(2)}`)
        .join(", ");
    const cells = [phase, p.requestsPerFile.toFixed(1), p.serviceMsPerFile.toFixed(2)];
    cells.push(p.wallMsPerFile.toFixed(2), list(p.ops), list(p.backend));
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("", "Where the served time goes, per file:", "");
  for (const [phase, p] of Object.entries(profile.phases)) {
    const top = p.backend[0];
    if (top === undefined || p.serviceMsPerFile === 0) continue;
    const ms = top.perFile * top.meanMs;
    const share = ((100 * ms) / p.serviceMsPerFile).toFixed(0);
    lines.push(
      `- ${phase}: ${p.requestsPerFile.toFixed(1)} requests served in ` +
        `${p.serviceMsPerFile.toFixed(2)} ms (wall ${p.wallMsPerFile.toFixed(2)} ms); ` +
        `${top.op} ${ms.toFixed(2)} ms of it (${share}%).`,
    );
  }
  const c = profile.cpu;
  const cores = (s: number) => (s / c.wallS).toFixed(2);
  lines.push(
    "",
    `CPU over the profiled run (${c.wallS.toFixed(1)} s, in cores): jfs ${cores(c.jfsS)}, ` +
      `s3rver ${cores(c.s3rverS)}, python ${cores(c.workloadS)}. The same s3rver answers a ` +
      `sequential 16 KiB PUT in ${input.latency.putMs.toFixed(2)} ms and a GET in ` +
      `${input.latency.getMs.toFixed(2)} ms (S3ObjectStore, one at a time, through the gate).`,
  );
  return lines.join("\n");
}

/** The targets, checked against this run: which ratios reach them, which do not. */
function targetsText(input: ReportInput): string {
  const byName = new Map(input.results.map((r) => [r.name, r]));
  const allRows = rows(input);
  const smallRows = allRows.filter((r) => / × 16 KiB|DataLoader/.test(r.label));
  const hotRow = allRows.find((r) => r.label.includes("hot (read again)"));
  const lines: string[] = [];
  const short = (label: string) => label.replace(/^\d+ × 16 KiB: /, "").replace(/ \(.*\)$/, "");
  for (const j of input.results.filter((r) => r.name.startsWith("jfs"))) {
    const subject = j.name;
    const met: string[] = [];
    const perPeer: string[] = [];
    let total = 0;
    for (const peerName of ["rclone", "s3fs"]) {
      const p = byName.get(peerName);
      if (p === undefined) continue;
      const speeds = smallRows.map((row) => {
        const [a, b] = [row.value(j), row.value(p)];
        return { label: short(row.label), speed: row.higherBetter ? a / b : b / a };
      });
      total += speeds.length;
      for (const x of speeds) if (x.speed >= 3) met.push(`${x.label} vs ${peerName}`);
      speeds.sort((a, b) => a.speed - b.speed);
      const [worst, best] = [speeds[0], speeds[speeds.length - 1]];
      if (worst !== undefined && best !== undefined) {
        perPeer.push(
          `vs ${peerName} from ${worst.speed.toFixed(2)}× (${worst.label}) to ` +
            `${best.speed.toFixed(2)}× (${best.label})`,
        );
      }
    }
    const local = byName.get("local");
    const hot =
      hotRow !== undefined && local !== undefined
        ? (hotRow.value(j) / hotRow.value(local)).toFixed(2)
        : "–";
    const reached = met.length === 0 ? "" : ` (${met.join(", ")})`;
    lines.push(
      `- ${subject}: hot sequential read ${hot}× the local disk (target 0.8×); small files and ` +
        `DataLoader: ${met.length} of ${total} comparisons reach 3×${reached}; ` +
        `${perPeer.join(", ")}.`,
    );
  }
  let s3rverMax = { cores: 0, where: "" };
  for (const r of input.results) {
    for (const [what, c] of Object.entries(r.cpu)) {
      const cores = c.wallS > 0 ? c.s3rverS / c.wallS : 0;
      if (cores > s3rverMax.cores) s3rverMax = { cores, where: `${r.name} ${what}` };
    }
  }
  lines.push(
    `- s3rver is one node process (one core at most): its busiest workload was ` +
      `${s3rverMax.where} at ${s3rverMax.cores.toFixed(2)} core.`,
  );
  return lines.join("\n");
}

export function renderReport(input: ReportInput): string {
  const commands = input.results.flatMap((r) => r.commands.map((c) => `${r.name}: ${c}`));
  const args = `--big-mib ${input.bigMiB} --files ${input.files} --rand-reads ${input.randReads}`;
  return [
    `\`bun bench/fuse.ts ${args}\` — one run, one machine; every figure is from the same run, ` +
      "workload by workload across the file systems. 1-minute load average at the start and " +
      `end: ${input.loadAverage.map((l) => l.toFixed(2)).join(" and ")} ` +
      `(${navigator.hardwareConcurrency} cores). Ratios are jfs's speed over each peer's ` +
      "(above 1: jfs is faster; for epoch times, the peer's time over jfs's).",
    "",
    figuresTable(input),
    "",
    "Targets of the issue (≥ 3× rclone and s3fs on the small-file and DataLoader workloads, " +
      "hot reads ≥ 0.8× the local disk), in this run:",
    "",
    targetsText(input),
    "",
    "CPU used during each workload, in cores (CPU seconds ÷ wall seconds; the machine has " +
      `${navigator.hardwareConcurrency} cores). "gate" is the SigV4 proxy in front of s3rver, ` +
      "inside the bench process.",
    "",
    cpuTable(input),
    "",
    "jfs on the small-file workload and the DataLoader, request by request, on a fresh volume " +
      "(bench/fuse_profile.ts; service time = arrival on the main thread to reply, so the " +
      "kernel and the reader-thread hop are outside it; FORGETs are never counted; the epochs " +
      "follow a remount with the cache emptied):",
    "",
    profileText(input.profile, input),
    "",
    "Setup notes: jfs keeps its meta in SQLite (the embedded default), jfs-redis in Redis (what " +
      "several nodes sharing a volume use), both with default flags: close returns once the " +
      "data is in S3. jfs-tuned is SQLite with `--writeback` (close returns once blocks are in " +
      "the cache directory, uploads follow) and `--open-cache 3600 --attr-cache 3600 " +
      "--entry-cache 3600 --dir-entry-cache 3600` (the kernel keeps pages of unchanged files " +
      "across opens, names and attributes for an hour: for read-mostly data). rclone runs with `--vfs-cache-mode full` and `--vfs-write-back 0s`: close " +
      'returns once the file is in its local cache and the upload follows, so its "to close" ' +
      'write figure is not a durable write; the "until unmounted" figure waits until S3 lists ' +
      "every byte. `--s3-no-head` works around s3rver answering a PUT before the bytes are on " +
      "its disk (rclone's HEAD right after saw 0 bytes and dropped 2 of 10,000 uploads). s3fs " +
      "runs with its defaults: no local data cache, so its hot reads go to S3 again. Each DataLoader dataset directory holds a `.keep` file: " +
      "s3rver 3.7.1 leaves a common prefix out of a delimiter listing when no object sits right " +
      "under it, which hid rclone's directories (it stores no directory objects).",
    "",
    "Commands:",
    "",
    "```",
    ...commands,
    "cold: unmount, empty the cache directory, sync; echo 3 > /proc/sys/vm/drop_caches; mount",
    "```",
  ].join("\n");
}
