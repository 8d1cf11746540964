/**
 * `bun run release` and install.sh's release mode, end to end: the four targets are built for
 * real (cross-compiled from the pinned @oven/bun-* runtimes), served by a local HTTP server, and
 * installed with `curl URL/install.sh | sh` as a user would. Only linux-x64 can run here; the
 * other three are checked as executables of their platform by their headers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildRelease, TARGETS } from "../../release/build.ts";
import { createVolume, HAVE_FUSE, isMounted, waitFor } from "../fuse/harness.ts";
import { startS3Server } from "../harness/s3server.ts";

const REPO = resolve(import.meta.dir, "../..");
const OLD = "0.0.1-test";
const NEW = "0.0.2-test";
const NOBODY = 65534;

let dir: string;
let server: ReturnType<typeof Bun.serve>;
let base: string;
const requests: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "jfs-release-"));
  chmodSync(dir, 0o755); // the unprivileged install reads nothing here, but walks into home/
  const good = join(dir, "good");
  buildRelease({ out: good, version: OLD, targets: TARGETS });
  buildRelease({ out: good, version: NEW, targets: ["linux-x64"] });
  // The same release with one byte of the binary changed and its published checksum kept.
  const bad = join(dir, "bad");
  cpSync(join(good, NEW), join(bad, NEW), { recursive: true });
  writeFileSync(join(bad, "latest"), `${NEW}\n`);
  const binary = join(bad, NEW, "jfs-linux-x64");
  const bytes = readFileSync(binary);
  bytes[bytes.length - 100]! ^= 0xff;
  writeFileSync(binary, bytes);
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requests.push(path);
      const file = resolve(dir, `.${path}`);
      if (!file.startsWith(`${dir}/`) || !existsSync(file) || !statSync(file).isFile()) {
        return new Response("not found", { status: 404 });
      }
      return new Response(Bun.file(file));
    },
  });
  base = `http://127.0.0.1:${server.port}`;
}, 300_000);

afterAll(() => {
  server?.stop(true);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number;
  out: string;
  err: string;
}

/** `curl -fsSL URL/install.sh | sh`, as the README says, with only the given environment. */
async function install(
  env: Record<string, string>,
  opts: { asUid?: number; pathPrefix?: string } = {},
): Promise<Result> {
  const path = `${opts.pathPrefix ? `${opts.pathPrefix}:` : ""}/usr/local/bin:/usr/bin:/bin`;
  const shell = ["sh", "-c", `curl -fsSL ${base}/good/install.sh | sh`];
  const cmd =
    opts.asUid === undefined
      ? shell
      : ["setpriv", `--reuid=${opts.asUid}`, `--regid=${opts.asUid}`, "--clear-groups", ...shell];
  // Asynchronous: this process is also the HTTP server the installer downloads from.
  const p = Bun.spawn(cmd, { env: { PATH: path, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, out, err };
}

function newHome(owner?: number): string {
  const home = mkdtempSync(join(dir, "home-"));
  chmodSync(home, 0o755);
  if (owner !== undefined) chownSync(home, owner, owner);
  return home;
}

function versionOf(binary: string): {
  version: string;
  commit: string;
  target: string;
  bun: string;
} {
  const p = Bun.spawnSync([binary, "version", "--json"], { stdout: "pipe", stderr: "pipe" });
  expect(p.exitCode).toBe(0);
  return JSON.parse(p.stdout.toString());
}

/** A fake uname, the one way to be another platform: install.sh asks nothing else. */
function unameAs(system: string, machine: string): string {
  const bin = mkdtempSync(join(dir, "uname-"));
  const script = `#!/bin/sh\ncase "$1" in -s) echo ${system} ;; -m) echo ${machine} ;; *) exec /bin/uname "$@" ;; esac\n`;
  writeFileSync(join(bin, "uname"), script, { mode: 0o755 });
  return bin;
}

describe("bun run release", () => {
  test("writes each target, its sha256 and a manifest", () => {
    const rel = join(dir, "good", OLD);
    const manifest = JSON.parse(readFileSync(join(rel, "manifest.json"), "utf8"));
    expect(manifest.version).toBe(OLD);
    expect(manifest.bun).toBe(Bun.version);
    expect(manifest.artifacts.map((a: { target: string }) => a.target)).toEqual([...TARGETS]);
    for (const a of manifest.artifacts as { file: string; sha256: string; bytes: number }[]) {
      const bytes = readFileSync(join(rel, a.file));
      const sha = createHash("sha256").update(bytes).digest("hex");
      expect(a.sha256).toBe(sha);
      expect(a.bytes).toBe(bytes.length);
      expect(readFileSync(join(rel, `${a.file}.sha256`), "utf8")).toBe(`${sha}  ${a.file}\n`);
      expect(statSync(join(rel, a.file)).mode & 0o111).toBe(0o111);
    }
    expect(readFileSync(join(dir, "good", "latest"), "utf8")).toBe(`${NEW}\n`);
    expect(readFileSync(join(dir, "good", "install.sh"))).toEqual(
      readFileSync(join(REPO, "install.sh")),
    );
  });

  test("darwin builds are Mach-O and linux builds ELF, each for its CPU", () => {
    const header = (t: string) => readFileSync(join(dir, "good", OLD, `jfs-${t}`)).subarray(0, 20);
    const macho = (t: string) => {
      const h = readFileSync(join(dir, "good", OLD, `jfs-${t}`)).subarray(0, 1 << 16);
      expect(h.readUInt32LE(0)).toBe(0xfeedfacf); // MH_MAGIC_64, little-endian
      expect(h.readUInt32LE(12)).toBe(2); // MH_EXECUTE
      // macOS on arm64 runs only signed code: the (ad-hoc) signature must be there.
      const commands: number[] = [];
      for (let i = 0, at = 32; i < h.readUInt32LE(16); i++, at += h.readUInt32LE(at + 4)) {
        commands.push(h.readUInt32LE(at));
      }
      expect(commands).toContain(0x1d); // LC_CODE_SIGNATURE
      return h.readUInt32LE(4); // cputype
    };
    expect(macho("darwin-x64")).toBe(0x01000007); // CPU_TYPE_X86_64
    expect(macho("darwin-arm64")).toBe(0x0100000c); // CPU_TYPE_ARM64
    const elf = (t: string) => {
      const h = header(t);
      expect(h.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      expect(h.readUInt16LE(16)).toBe(2); // ET_EXEC
      return h.readUInt16LE(18); // e_machine
    };
    expect(elf("linux-x64")).toBe(62); // EM_X86_64
    expect(elf("linux-arm64")).toBe(183); // EM_AARCH64
  });

  test("the linux-x64 binary says its version, commit, target and Bun version", () => {
    const v = versionOf(join(dir, "good", OLD, "jfs-linux-x64"));
    const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: REPO });
    expect(v).toEqual({
      version: OLD,
      commit: expect.stringMatching(new RegExp(`^${head.stdout.toString().trim()}(-dirty)?$`)),
      target: "linux-x64",
      bun: Bun.version,
    });
  });
});

test.skipIf(!HAVE_FUSE)(
  "the linux-x64 binary mounts with FUSE: its reader worker is inside",
  async () => {
    const binary = join(dir, "good", OLD, "jfs-linux-x64");
    const volume = await createVolume("released");
    const mnt = join(volume.root, "mnt");
    mkdirSync(mnt);
    const proc = Bun.spawn([binary, "mount", volume.metaUrl, mnt, "--cache-dir", volume.cacheDir], {
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      await waitFor(`mount on ${mnt}`, () => isMounted(mnt) || proc.exitCode !== null);
      expect(isMounted(mnt)).toBe(true);
      const data = Buffer.alloc(3 << 20, 0);
      for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
      writeFileSync(join(mnt, "f"), data);
      expect(readFileSync(join(mnt, "f"))).toEqual(data);
      const umount = Bun.spawn([binary, "umount", mnt], { stdout: "pipe", stderr: "pipe" });
      expect(await umount.exited).toBe(0);
      expect(await proc.exited).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill(9);
      await proc.exited;
      if (isMounted(mnt)) Bun.spawnSync([binary, "umount", "--force", mnt]);
      volume.cleanup();
    }
  },
  60_000,
);

test("the linux-x64 binary reaches S3 (fetch + SigV4, no SDK needed with keys)", async () => {
  await using s3 = await startS3Server();
  const binary = join(dir, "good", OLD, "jfs-linux-x64");
  const args = ["objbench", "--storage", "s3", "--bucket", s3.bucketUrl("released")];
  const p = Bun.spawn([binary, ...args, "--objects", "4", "--threads", "2"], {
    env: { ...process.env, ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  expect(out).toContain("put");
}, 60_000);

test("the linux-x64 binary without S3 keys loads the AWS credential chain and says so", async () => {
  const binary = join(dir, "good", OLD, "jfs-linux-x64");
  const home = newHome();
  // Port 1 never answers: the chain (inside the binary, loaded on first use) fails first.
  const args = ["format", `sqlite3://${home}/nokeys.db`, "nokeys", "--storage", "s3"];
  const p = Bun.spawn([binary, ...args, "--bucket", "http://127.0.0.1:1/b1"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  expect(code).not.toBe(0);
  expect(err).toContain("no S3 credentials: give --access-key and --secret-key");
}, 60_000);

const haveNfsLs = Bun.which("nfs-ls") !== null;
test.skipIf(!haveNfsLs)(
  "the linux-x64 binary serves NFS: nfs/ it loads on first use is inside",
  async () => {
    const binary = join(dir, "good", OLD, "jfs-linux-x64");
    const home = newHome();
    const p = Bun.spawn([binary, "serve", "--nfs", "--port", "0"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = p.stdout.getReader();
      let text = "";
      while (!/nfs: serving jfs on 127\.0\.0\.1:\d+\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`serve exited: ${text}`);
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      const port = /127\.0\.0\.1:(\d+)/.exec(text)![1];
      writeFileSync(join(home, "hello"), "hello\n");
      const url = (path: string) =>
        `nfs://127.0.0.1/${path}?nfsport=${port}&mountport=${port}&version=3`;
      const cp = Bun.spawn(["nfs-cp", join(home, "hello"), url("/hello")], { stderr: "pipe" });
      expect(await cp.exited).toBe(0);
      const ls = Bun.spawn(["nfs-ls", url("")], { stdout: "pipe", stderr: "pipe" });
      const [listing, lsCode] = await Promise.all([new Response(ls.stdout).text(), ls.exited]);
      expect(lsCode).toBe(0);
      expect(listing).toContain("hello");
    } finally {
      p.kill("SIGTERM");
      await p.exited;
    }
  },
  60_000,
);

describe("install.sh release mode", () => {
  test("installs JFS_VERSION without root into ~/.local/bin, then upgrades in place", async () => {
    const asUid = process.getuid?.() === 0 ? NOBODY : undefined;
    const home = newHome(asUid);
    const env = { HOME: home, JFS_RELEASE_URL: `${base}/good` };
    const target = join(home, ".local", "bin", "jfs");

    const first = await install({ ...env, JFS_VERSION: OLD }, { ...(asUid ? { asUid } : {}) });
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toContain(`downloading ${base}/good/${OLD}/jfs-linux-x64\n`);
    expect(first.out).toContain(`installed jfs ${OLD} (commit `);
    expect(first.out).toContain(`, linux-x64, bun ${Bun.version}) at ${target}\n`);
    expect(first.out).toContain("add it to your PATH");
    expect(readFileSync(target)).toEqual(readFileSync(join(dir, "good", OLD, "jfs-linux-x64")));
    if (asUid !== undefined) expect(statSync(target).uid).toBe(asUid);
    expect(versionOf(target).version).toBe(OLD);

    // No JFS_VERSION: latest, which is NEW; the same path now holds the new binary.
    const inodeBefore = statSync(target).ino;
    const second = await install(env, { ...(asUid ? { asUid } : {}) });
    expect(second.code).toBe(0);
    expect(second.out).toContain(`downloading ${base}/good/${NEW}/jfs-linux-x64\n`);
    expect(versionOf(target).version).toBe(NEW);
    // Replaced by rename, so a jfs still running from the old file keeps its executable.
    expect(statSync(target).ino).not.toBe(inodeBefore);
    expect(readdirSync(join(home, ".local", "bin"))).toEqual(["jfs"]);

    const again = await install(env, { ...(asUid ? { asUid } : {}) });
    expect(again.code).toBe(0);
    expect(again.out).toContain("is already this build");
  }, 120_000);

  test("a tampered binary is refused and nothing is installed or replaced", async () => {
    const home = newHome();
    const installDir = join(home, "bin");
    const env = { HOME: home, JFS_RELEASE_URL: `${base}/bad`, JFS_INSTALL_DIR: installDir };
    const fresh = await install(env);
    expect(fresh.code).not.toBe(0);
    expect(fresh.err).toContain("sha256 mismatch for jfs-linux-x64");
    expect(existsSync(installDir)).toBe(false);

    // Over an installed OLD: it stays, byte for byte.
    const old = await install({ ...env, JFS_RELEASE_URL: `${base}/good`, JFS_VERSION: OLD });
    expect(old.code).toBe(0);
    const before = readFileSync(join(installDir, "jfs"));
    const upgrade = await install(env);
    expect(upgrade.code).not.toBe(0);
    expect(upgrade.err).toContain("sha256 mismatch");
    expect(readFileSync(join(installDir, "jfs"))).toEqual(before);
    expect(readdirSync(installDir)).toEqual(["jfs"]);
  }, 120_000);

  test("picks the file for the OS and CPU uname reports", async () => {
    const cases: [string, string, string][] = [
      ["Darwin", "arm64", "darwin-arm64"],
      ["Darwin", "x86_64", "darwin-x64"],
      ["Linux", "aarch64", "linux-arm64"],
      ["Linux", "amd64", "linux-x64"],
    ];
    for (const [system, machine, want] of cases) {
      const home = newHome();
      const env = { HOME: home, JFS_RELEASE_URL: `${base}/good`, JFS_VERSION: OLD };
      const from = requests.length;
      const r = await install(env, { pathPrefix: unameAs(system, machine) });
      const asked = requests.slice(from).filter((p) => p !== "/good/install.sh");
      expect(asked).toEqual([`/good/${OLD}/jfs-${want}`, `/good/${OLD}/jfs-${want}.sha256`]);
      if (want.startsWith("darwin")) {
        // Verified, then refused: a Mach-O does not run on this Linux machine.
        expect(r.code).not.toBe(0);
        expect(r.err).toContain(`jfs-${want} ${OLD} does not run on this machine`);
        expect(existsSync(join(home, ".local"))).toBe(false);
      }
    }
  }, 120_000);

  test("an unsupported platform, or no JFS_RELEASE_URL, is one clear error", async () => {
    const home = newHome();
    const url = { HOME: home, JFS_RELEASE_URL: `${base}/good` };
    const os = await install(url, { pathPrefix: unameAs("FreeBSD", "amd64") });
    expect(os.code).not.toBe(0);
    expect(os.err).toBe("jfs-install: error: no release for OS freebsd\n");
    const cpu = await install(url, { pathPrefix: unameAs("Linux", "riscv64") });
    expect(cpu.err).toBe("jfs-install: error: no release for CPU riscv64\n");
    const none = await install({ HOME: home });
    expect(none.code).not.toBe(0);
    expect(none.err).toContain("set JFS_RELEASE_URL");
    expect(existsSync(join(home, ".local"))).toBe(false);
  }, 60_000);
});
