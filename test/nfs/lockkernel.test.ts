/**
 * NLM with the Linux kernel's NFS client (in a VM, shared/tools/nfs-vm): the guest mounts
 * `jfs serve --nfs --portmap-port 111` without nolock, and its fcntl locks are the same locks
 * as a FUSE mount's of the same volume, both ways: a lock the guest holds gives the FUSE side
 * EAGAIN and F_GETLK names it; a lock the FUSE side holds gives the guest EAGAIN and F_GETLK
 * (NLM TEST) names it; released, each side gets the lock. Blocking waits too: the guest's
 * F_SETLKW on the FUSE side's lock (BLOCKED, granted at the client's resend) and the FUSE
 * side's on the guest's.
 *
 * The guest runs Debian's rpcbind and rpc.statd (the kernel's lockd registers with the one and
 * asks the other to monitor the server), unpacked by test/run.sh into JFS_NLM_TOOLS; its
 * lockd asks the server's portmapper on port 111, so the test needs that port free. nfs-vm's
 * own mount cannot have locks (`-o lock`): it mounts before the command runs, and the kernel's
 * lockd, started by that mount, must register with an rpcbind that is not yet there ("svc:
 * failed to register lockdv1 RPC service (errno 111)", mount: Connection refused). So the
 * test boots with --no-mount and mounts from its command once rpcbind and rpc.statd run. The two
 * sides take turns through files in a shared directory. Skipped where nfs-vm, qemu, FUSE or the
 * tools are missing, unless CI=true (then their absence fails), and where port 111 is taken.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "../fuse/harness.ts";
import { NFS_VM, NFS_VM_RUNNABLE } from "../harness/nfsvm.ts";
import { type ServeProcess, spawnServe } from "./harness.ts";

/** Debian's rpcbind, nfs-common and libwrap0 unpacked (dpkg -x) into one root: test/run.sh. */
const TOOLS =
  process.env.JFS_NLM_TOOLS ?? join(process.env.TMPDIR ?? "/tmp", "jfs-test-tools/root");
const LOCKER = join(import.meta.dir, "../fuse/locker.py");
const PYTHON = "/usr/bin/python3";

function port111Free(): boolean {
  try {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 111, socket: { data() {} } });
    probe.stop(true);
    return true;
  } catch {
    return false;
  }
}

const haveTools =
  existsSync(join(TOOLS, "sbin/rpcbind")) &&
  existsSync(join(TOOLS, "sbin/rpc.statd")) &&
  existsSync(join(TOOLS, "usr/lib/x86_64-linux-gnu/libwrap.so.0"));
const available = NFS_VM_RUNNABLE && HAVE_FUSE && haveTools && Bun.which(PYTHON) !== null;
const required = process.env.CI === "true";
const free111 = port111Free();
/**
 * Port 111 taken (an rpcbind on this machine) skips the test even in CI: the server cannot
 * have it, and the guest's lockd asks no other port.
 */
const skip = !free111 || (!available && !required);
if (!free111)
  console.warn("lockkernel: port 111 is in use (rpcbind?): the kernel NLM test is skipped");
const VM_TIMEOUT_SEC = 400;
/** A TCG boot and mount can take a minute or two on a loaded machine. */
const STEP_TIMEOUT_MS = 240_000;

let volume: TestVolume;
let share: string;
/** The directory of the running test's turns, inside the share. */
let turns: string;
let server: ServeProcess;
let fuse: Mounted;

beforeAll(async () => {
  if (skip) return;
  volume = await createVolume("nlmvol");
  share = mkdtempSync(join(tmpdir(), "jfs-nlm-vm-"));
  const home = join(volume.root, "home");
  server = await spawnServe({ metaUrl: volume.metaUrl, home }, [
    "--portmap-port",
    "111",
    "--lock-grace",
    "0",
  ]);
  fuse = await startMount(volume, join(volume.root, "fuse"), ["--attr-cache", "0"]);
});

afterAll(async () => {
  if ((fuse as Mounted | undefined) !== undefined) {
    await stopMount(fuse).catch(() => forceCleanup(fuse));
  }
  await (server as ServeProcess | undefined)?.stop();
  (volume as TestVolume | undefined)?.cleanup();
  if ((share as string | undefined) !== undefined) rmSync(share, { recursive: true, force: true });
});

/** The guest's start: lock services (rpcbind, rpc.statd), then the mount with locks. */
function guestSetup(port: number): string {
  return `
set -u
S=${turns}; T=${TOOLS}; L=${LOCKER}; PY=${PYTHON}
export LD_LIBRARY_PATH=$T/usr/lib/x86_64-linux-gnu
step() { echo "$1" >>$S/guest.log; }
await() { i=0; while [ ! -e $S/$1 ]; do sleep 0.2; i=$((i+1)); [ $i -lt 1500 ] || { step "no $1"; exit 3; }; done; }
mkdir -p /run/rpcbind /var/lib/nfs/statd/sm /var/lib/nfs/statd/sm.bak /mnt/nfs
# rpcbind drops to the user _rpc, which only its package's install creates (writes to the
# guest's /etc are its own and discarded): without it, rpcbind exits at once.
grep -q '^_rpc:' /etc/passwd || echo '_rpc:x:107:65534::/run/rpcbind:/usr/sbin/nologin' >>/etc/passwd
$T/sbin/rpcbind -f & sleep 1
# Without /etc/nfs.conf (nfs-common not installed here) statd would look in /var/lib/nfs.
$T/sbin/rpc.statd --no-notify -F -P /var/lib/nfs/statd &
i=0; until $T/usr/sbin/rpcinfo -T tcp 127.0.0.1 100024 1 >/dev/null 2>&1; do sleep 0.2; i=$((i+1)); [ $i -lt 100 ] || { step "no statd"; exit 4; }; done
mount -t nfs -o vers=3,proto=tcp,port=${port},mountport=${port},mountproto=tcp,addr=10.0.2.2,lock 10.0.2.2:/ /mnt/nfs || { step "mount failed"; exit 5; }
grep " /mnt/nfs " /proc/mounts >$S/mountinfo
`;
}

/** What the guest runs for the first test: its half of the turns. */
function guestScript(port: number): string {
  return `${guestSetup(port)}
F=/mnt/nfs/shared-lock
mkfifo /tmp/release
$PY $L hold $F fcntl </tmp/release >$S/guest-hold.out & HOLDER=$!
exec 3>/tmp/release
i=0; until grep -q held $S/guest-hold.out 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ] || { step "hold failed"; exit 6; }; done
touch $S/guest-held
await host-checked
echo >&3; wait $HOLDER; step "hold exit $?"
touch $S/guest-released
await host-holds
$PY $L try $F fcntl >$S/guest-try.out 2>&1
$PY $L getlk $F >$S/guest-getlk.out 2>&1
touch $S/guest-tried
await host-released
$PY $L try $F fcntl >$S/guest-try2.out 2>&1
touch $S/guest-tried2
# A blocking wait of the guest on the FUSE side's lock (NLM4_BLOCKED, then the resend).
await host-holds2
$PY $L wait $F fcntl >$S/guest-wait.out 2>&1 & WAITER=$!
i=0; until grep -q waiting $S/guest-wait.out 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ] || { step "wait failed"; exit 7; }; done
touch $S/guest-waiting
wait $WAITER; step "wait exit $?"
touch $S/guest-waited
# A blocking wait of the FUSE side on the guest's lock.
mkfifo /tmp/release2
$PY $L hold $F fcntl </tmp/release2 >$S/guest-hold2.out & HOLDER=$!
exec 4>/tmp/release2
i=0; until grep -q held $S/guest-hold2.out 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ] || { step "hold2 failed"; exit 8; }; done
touch $S/guest-held2
await host-waiting
echo >&4; wait $HOLDER; step "hold2 exit $?"
touch $S/guest-released2
await host-granted
umount /mnt/nfs
step done
`;
}

async function until(name: string, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!existsSync(join(turns, name))) {
    if (!alive()) throw new Error(`the VM ended before ${name}: ${guestLog()}`);
    if (Date.now() > deadline) throw new Error(`no ${name} within ${STEP_TIMEOUT_MS} ms`);
    await Bun.sleep(200);
  }
}

const guestLog = () =>
  existsSync(join(turns, "guest.log")) ? readFileSync(join(turns, "guest.log"), "utf8") : "";
const read = (name: string) => readFileSync(join(turns, name), "utf8").trim();
const turn = (name: string, text = "") => writeFileSync(join(turns, name), text);

/** nfs-vm with `script` (written into the turns directory) against the server. */
function startVm(script: string) {
  const path = join(turns, "guest.sh");
  writeFileSync(path, script);
  const vm = Bun.spawn(
    [
      NFS_VM,
      "--no-mount",
      "-p",
      String(server.port),
      "-t",
      String(VM_TIMEOUT_SEC),
      "--share",
      share,
      `bash ${path}`,
    ],
    { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  const output = Promise.all([new Response(vm.stdout).text(), new Response(vm.stderr).text()]);
  return { vm, output, alive: () => vm.exitCode === null };
}

function newTurns(name: string): void {
  turns = join(share, name);
  mkdirSync(turns);
}

/** A locker.py process on the FUSE mount, read line by line; release() ends a hold. */
class Locker {
  readonly proc;
  readonly #lines: string[] = [];
  #ended = false;

  constructor(args: string[]) {
    this.proc = Bun.spawn([PYTHON, LOCKER, ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    void this.#read();
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of this.proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      this.#lines.push(...parts);
    }
    this.#ended = true;
  }

  /** The next line, or undefined if none comes within `timeoutMs`. */
  async line(timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0 && !this.#ended && Date.now() < deadline) await Bun.sleep(20);
    return this.#lines.shift();
  }

  release(): void {
    this.proc.stdin.write("\n");
    this.proc.stdin.flush();
  }
}

/** One locker.py run on the FUSE mount; its first line. */
async function fuseLocker(...args: string[]): Promise<string> {
  const proc = Bun.spawn([PYTHON, LOCKER, ...args], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  return out.trim();
}

test.skipIf(skip)(
  "the kernel NFS client's fcntl locks and a FUSE mount's are the same locks",
  async () => {
    newTurns("same-locks");
    const { vm, output, alive } = startVm(guestScript(server.port));
    const file = join(fuse.dir, "shared-lock");

    await until("guest-held", alive);
    // The mount really has locks on (local_lock=none: every lock goes to the server's NLM).
    expect(read("mountinfo")).toContain("local_lock=none");
    expect(await fuseLocker("try", file, "fcntl")).toBe("EAGAIN");
    expect(await fuseLocker("getlk", file)).toMatch(/^w \d+$/);
    turn("host-checked");

    await until("guest-released", alive);
    const holder = new Locker(["hold", file, "fcntl"]);
    const first = (await holder.line()) ?? "";
    expect(first).toMatch(/^held \d+$/);
    const holderPid = Number(first.split(" ")[1]);
    turn("host-holds");

    await until("guest-tried", alive);
    holder.release();
    expect(await holder.proc.exited).toBe(0);
    turn("host-released");

    // The guest waits (F_SETLKW) for the FUSE side's lock: the server answers BLOCKED, waits
    // for the lock on the client's behalf, and grants the client's next resend (Linux: 30 s).
    await until("guest-tried2", alive);
    const holder2 = new Locker(["hold", file, "fcntl"]);
    expect(await holder2.line()).toMatch(/^held \d+$/);
    turn("host-holds2");
    await until("guest-waiting", alive);
    await Bun.sleep(3000); // its LOCK reaches the server and is BLOCKED
    expect(existsSync(join(turns, "guest-waited"))).toBe(false);
    holder2.release();
    expect(await holder2.proc.exited).toBe(0);
    await until("guest-waited", alive);

    // The FUSE side waits for the guest's lock: granted within the VFS's poll bound.
    await until("guest-held2", alive);
    const waiter = new Locker(["wait", file, "fcntl"]);
    expect(await waiter.line()).toBe("waiting");
    expect(await waiter.line(1000)).toBeUndefined();
    turn("host-waiting");
    await until("guest-released2", alive);
    expect(await waiter.line(10_000)).toBe("granted");
    expect(await waiter.proc.exited).toBe(0);
    turn("host-granted");

    const code = await vm.exited;
    const [stdout, stderr] = await output;
    expect({ code, log: guestLog() }).toEqual({ code: 0, log: expect.stringContaining("done") });
    expect(read("guest-try.out")).toBe("EAGAIN");
    // NLM TEST's holder: the Linux client reports a remote holder's pid negated.
    const [type, pid] = read("guest-getlk.out").split(" ");
    expect(type).toBe("w");
    expect(Math.abs(Number(pid))).toBe(holderPid);
    expect(read("guest-try2.out")).toBe("granted");
    expect(read("guest-wait.out").split("\n")).toEqual(["waiting", "granted"]);
    expect(stdout + stderr).not.toContain("lockd: server");
  },
  (VM_TIMEOUT_SEC + 60) * 1000,
);

/**
 * SM_NOTIFY as the guest's statd would get it from the restarted server (10.0.2.2 cannot call
 * into the guest through qemu's NAT, so the guest delivers it to its own statd): an RPC call
 * over TCP from a reserved port, stat_chge { mon_name, state }.
 */
const NOTIFY_PY = `
import socket, struct, subprocess, sys
mon, state, rpcinfo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [l.split() for l in subprocess.run([rpcinfo, "-p", "127.0.0.1"], capture_output=True, text=True).stdout.splitlines()[1:]]
port = next(int(r[3]) for r in rows if r[0] == "100024" and r[2] == "tcp")
name = mon.encode()
body = struct.pack(">10I", 0x51a7e, 0, 2, 100024, 1, 6, 0, 0, 0, 0)
body += struct.pack(">I", len(name)) + name + b"\\0" * (-len(name) % 4) + struct.pack(">i", state)
s = socket.socket()
for p in range(1023, 600, -1):
    try:
        s.bind(("127.0.0.1", p)); break
    except OSError:
        continue
s.connect(("127.0.0.1", port))
s.sendall(struct.pack(">I", 0x80000000 | len(body)) + body)
print("notified", mon, state, len(s.recv(4096)))
`;

test.skipIf(skip)(
  "after a server restart the kernel client reclaims its lock in the grace period; SIGKILL frees it",
  async () => {
    newTurns("reclaim");
    writeFileSync(join(turns, "notify.py"), NOTIFY_PY);
    const script = `${guestSetup(server.port)}
F=/mnt/nfs/reclaimed
mkfifo /tmp/release
$PY $L hold $F fcntl </tmp/release >$S/guest-hold.out & HOLDER=$!
exec 3>/tmp/release
i=0; until grep -q held $S/guest-hold.out 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ] || { step "hold failed"; exit 6; }; done
touch $S/guest-held
await host-restarted
$PY $S/notify.py 10.0.2.2 $(cat $S/host-restarted) $T/usr/sbin/rpcinfo >>$S/guest.log 2>&1 || { step "notify failed"; exit 7; }
touch $S/guest-notified
await host-seen
# A holder killed with SIGKILL: the client's kernel unlocks on its exit.
kill -9 $HOLDER; wait $HOLDER; step "holder killed"
touch $S/guest-killed
await host-freed
umount /mnt/nfs
step done
`;
    const { vm, output, alive } = startVm(script);
    const file = join(fuse.dir, "reclaimed");
    await until("guest-held", alive);
    expect(await fuseLocker("getlk", file)).toMatch(/^w \d+$/);
    // A clean stop closes the server's session: the guest's lock is gone with it.
    const port = server.port;
    expect(await server.stop()).toBe(0);
    expect(await fuseLocker("getlk", file)).toMatch(/^u /);
    server = await spawnServe(
      { metaUrl: volume.metaUrl, home: join(volume.root, "home") },
      ["--portmap-port", "111", "--lock-grace", "120"],
      { port },
    );
    // Any state other than the one the guest's statd recorded for the server (odd: up).
    turn("host-restarted", String((Math.floor(Date.now() / 1000) | 1) + 2));
    await until("guest-notified", alive);
    // The guest's lockd reclaims (reclaim set, granted in the grace period): held again.
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    let seen = await fuseLocker("getlk", file);
    while (!/^w /.test(seen) && Date.now() < deadline && alive()) {
      await Bun.sleep(500);
      seen = await fuseLocker("getlk", file);
    }
    expect(seen).toMatch(/^w \d+$/);
    turn("host-seen");
    await until("guest-killed", alive);
    const freedBy = Date.now() + 30_000;
    seen = await fuseLocker("getlk", file);
    while (!/^u /.test(seen) && Date.now() < freedBy) {
      await Bun.sleep(200);
      seen = await fuseLocker("getlk", file);
    }
    expect(seen).toMatch(/^u /);
    turn("host-freed");
    const code = await vm.exited;
    await output;
    expect({ code, log: guestLog() }).toEqual({ code: 0, log: expect.stringContaining("done") });
    expect(guestLog()).toContain("notified 10.0.2.2");
  },
  (VM_TIMEOUT_SEC + 60) * 1000,
);
