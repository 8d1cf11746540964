#!/usr/bin/env bun
/**
 * bun run release — one self-contained jfs binary per target, the layout install.sh downloads:
 *
 *   dist/release/VERSION/jfs-OS-ARCH          the executable (bun build --compile)
 *   dist/release/VERSION/jfs-OS-ARCH.sha256   "HEX  jfs-OS-ARCH", as sha256sum prints it
 *   dist/release/VERSION/manifest.json        version, commit, Bun version, every artifact
 *   dist/release/latest                       one line: VERSION (what JFS_VERSION=latest means)
 *   dist/release/install.sh                   the installer, so serving dist/release is enough
 *
 * Cross-compiling needs the Bun runtime of each target. `bun build --compile --target` would
 * download it from GitHub; instead it comes from the npm packages that carry Bun per platform
 * (@oven/bun-OS-ARCH), pinned in release/bun.lock and installed with --os/--cpu '*' so that all
 * four unpack on any host. They live in their own package so that `bun install` in the checkout
 * (source installs, CI) does not fetch 400 MB of runtimes it never uses.
 *
 * Flags: --targets linux-x64,darwin-arm64 (default: all four)  --out DIR (default: dist/release)
 *        --version V (default: package.json's)   --host (only this machine's target, to dist/jfs)
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const TARGETS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"] as const;
export type Target = (typeof TARGETS)[number];

const root = resolve(dirname(import.meta.path), "..");
const runtimesDir = join(root, "release");
const ENTRY_POINTS = ["src/main.ts", "src/fuse/worker.ts"]; // the FUSE reader threads' entry

/** npm names Bun's arm64 packages "aarch64". */
function runtimePackage(target: Target): string {
  return `@oven/bun-${target.replace("arm64", "aarch64")}`;
}

function run(cmd: string[], cwd: string): string {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} failed (${p.exitCode}): ${p.stderr.toString().trim()}`);
  }
  return p.stdout.toString().trim();
}

function gitCommit(): string {
  const p = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root });
  if (p.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "diff", "--quiet", "HEAD", "--", "src", "nfs"], {
    cwd: root,
  });
  return p.stdout.toString().trim() + (dirty.exitCode === 0 ? "" : "-dirty");
}

/** The runtime a build embeds must be the Bun that bundles, or the bundle format may differ. */
function runtimePath(target: Target): string {
  const pkgDir = join(runtimesDir, "node_modules", runtimePackage(target));
  const wanted = (
    JSON.parse(readFileSync(join(runtimesDir, "package.json"), "utf8")) as {
      optionalDependencies: Record<string, string>;
    }
  ).optionalDependencies[runtimePackage(target)];
  const installed = () => {
    try {
      return (JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version: string })
        .version;
    } catch {
      return undefined;
    }
  };
  if (wanted !== Bun.version) {
    throw new Error(
      `release/package.json pins Bun ${wanted} but this is Bun ${Bun.version}: build with Bun ${wanted}, or update the pins (and release/bun.lock) to ${Bun.version}`,
    );
  }
  if (installed() !== wanted) {
    run([process.execPath, "install", "--frozen-lockfile", "--os=*", "--cpu=*"], runtimesDir);
  }
  return join(pkgDir, "bin", "bun");
}

export interface Artifact {
  target: Target;
  file: string;
  sha256: string;
  bytes: number;
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function compile(
  target: Target,
  outfile: string,
  version: string,
  commit: string,
  executable: string | undefined,
): void {
  const cmd = [
    process.execPath,
    "build",
    "--compile",
    "--minify-syntax",
    `--target=bun-${target}`,
    `--define=JFS_BUILD_VERSION=${JSON.stringify(version)}`,
    `--define=JFS_BUILD_COMMIT=${JSON.stringify(commit)}`,
    `--outfile=${outfile}`,
    ...(executable === undefined ? [] : [`--compile-executable-path=${executable}`]),
    // Measured in bench/startup.ts: bytecode saves most of the start-up CPU time, and splitting
    // keeps the modules behind dynamic import() (S3 SDK, NFS, FUSE) out of the first load.
    "--bytecode",
    "--format=esm",
    "--splitting",
    ...ENTRY_POINTS,
  ];
  run(cmd, root);
  chmodSync(outfile, 0o755);
}

export function hostTarget(): Target {
  const t = `${process.platform}-${process.arch}`;
  if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`no jfs target for ${t}`);
  return t as Target;
}

export function buildRelease(opts: {
  out: string;
  version: string;
  targets: readonly Target[];
}): Artifact[] {
  const dir = join(opts.out, opts.version);
  mkdirSync(dir, { recursive: true });
  const commit = gitCommit();
  const artifacts: Artifact[] = [];
  for (const target of opts.targets) {
    const file = `jfs-${target}`;
    const path = join(dir, file);
    compile(target, path, opts.version, commit, runtimePath(target));
    const sha256 = sha256File(path);
    writeFileSync(`${path}.sha256`, `${sha256}  ${file}\n`);
    artifacts.push({ target, file, sha256, bytes: statSync(path).size });
    console.log(`${path}  ${(statSync(path).size / 2 ** 20).toFixed(1)} MiB  ${sha256}`);
  }
  const manifest = {
    name: "jfs",
    version: opts.version,
    commit,
    bun: Bun.version,
    builtAt: new Date().toISOString(),
    artifacts,
  };
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(opts.out, "latest"), `${opts.version}\n`);
  copyFileSync(join(root, "install.sh"), join(opts.out, "install.sh"));
  return artifacts;
}

function parseTargets(list: string | undefined): Target[] {
  if (list === undefined) return [...TARGETS];
  return list.split(",").map((t) => {
    if (!(TARGETS as readonly string[]).includes(t)) {
      throw new Error(`unknown target ${t} (one of ${TARGETS.join(", ")})`);
    }
    return t as Target;
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      targets: { type: "string" },
      out: { type: "string" },
      version: { type: "string" },
      host: { type: "boolean" },
    },
  });
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  const version = values.version ?? pkg.version;
  if (values.host) {
    // A source install: the running Bun is the runtime, nothing to fetch.
    mkdirSync(join(root, "dist"), { recursive: true });
    compile(hostTarget(), join(root, "dist", "jfs"), version, gitCommit(), undefined);
  } else {
    buildRelease({
      out: resolve(values.out ?? join(root, "dist", "release")),
      version,
      targets: parseTargets(values.targets),
    });
  }
}
