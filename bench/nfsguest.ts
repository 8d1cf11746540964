/**
 * The workload bench/nfs.ts runs inside the nfs-vm guest, through the Linux kernel NFS client:
 * one python3 process (a process start costs ~70 ms under emulation), printing one line
 * "BENCH {json}" with its figures. Arguments: SIZE_MIB FILES RANDOM_READS.
 *
 * - seq_write: SIZE_MIB MiB written in 1 MiB writes, then fsync (COMMIT), MiB/s;
 * - seq_read_cold: read back after dropping the guest's caches (the server's may be warm);
 * - seq_read_hot: read again, from the guest's page cache (close-to-open GETATTR only);
 * - rand4k: O_DIRECT 4 KiB reads at random offsets of a 64 MiB file the server has just read
 *   (every read goes to the server), reads/s;
 * - FILES files of 16 KiB: create (open, write, close), `ls -l` of the directory after a drop
 *   of the guest caches, stat, read (open, read, close) and unlink, each per second;
 * - ls_l_local_s: `ls -l` of as many empty files in the guest's own memory-backed root, the
 *   floor any server's `ls -l` figure stands on.
 *
 * For each many-file phase it also gives the NFS calls the client sent per file, by procedure
 * (from the client's own counters, /proc/net/rpc/nfs), as "calls_PHASE_PROC": two servers
 * that need different numbers of calls for the same work show it there.
 */
export const GUEST_SCRIPT = String.raw`
import json, mmap, os, random, subprocess, sys, time

MiB = 1 << 20
size_mib, files, random_reads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
root = os.path.join(os.environ.get("NFS_MNT", "/mnt/nfs"), "bench")
os.makedirs(root, exist_ok=True)
res = {}

def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")

def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t

PROCS = ("null getattr setattr lookup access readlink read write create mkdir symlink mknod "
         "remove rmdir rename link readdir readdirplus fsstat fsinfo pathconf commit").split()

def nfs3_calls():
    with open("/proc/net/rpc/nfs") as f:
        for line in f:
            if line.startswith("proc3 "):
                return [int(v) for v in line.split()[2:]]
    return [0] * len(PROCS)

def counted(phase, count, fn):
    before = nfs3_calls()
    seconds = timed(fn)
    after = nfs3_calls()
    for name, a, b in zip(PROCS, before, after):
        if b > a:
            res["calls_%s_%s" % (phase, name)] = (b - a) / count
    return seconds

block = os.urandom(MiB)

def write_file(path, mib):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(mib):
        os.write(fd, block)
    os.fsync(fd)
    os.close(fd)

def read_file(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(MiB):
            pass

seq = os.path.join(root, "seq")
res["seq_write_mib_s"] = size_mib / timed(lambda: write_file(seq, size_mib))
drop_caches()
res["seq_read_cold_mib_s"] = size_mib / timed(lambda: read_file(seq))
res["seq_read_hot_mib_s"] = size_mib / timed(lambda: read_file(seq))
os.unlink(seq)

rand = os.path.join(root, "rand")
write_file(rand, 64)
read_file(rand)
buf = mmap.mmap(-1, 4096)
fd = os.open(rand, os.O_RDONLY | os.O_DIRECT)
rng = random.Random(1)
offsets = [rng.randrange(64 * MiB // 4096) * 4096 for _ in range(random_reads)]
def random_read():
    for off in offsets:
        os.preadv(fd, [buf], off)
res["rand4k_reads_s"] = random_reads / timed(random_read)
os.close(fd)
os.unlink(rand)

many = os.path.join(root, "many")
os.mkdir(many)
names = [os.path.join(many, "f%05d" % i) for i in range(files)]
small = os.urandom(16384)
def create():
    for n in names:
        fd = os.open(n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, small)
        os.close(fd)
res["create_s"] = files / counted("create", files, create)
drop_caches()
res["ls_l_s"] = counted("ls_l", files, lambda: subprocess.run(["ls", "-l", many], stdout=subprocess.DEVNULL, check=True))
drop_caches()
res["stat_s"] = files / counted("stat", files, lambda: [os.stat(n) for n in names])
def read_all():
    for n in names:
        with open(n, "rb", buffering=0) as f:
            f.read(65536)
drop_caches()
res["read_s"] = files / counted("read", files, read_all)
res["unlink_s"] = files / counted("unlink", files, lambda: [os.unlink(n) for n in names])
os.rmdir(many)

# The floor of ls -l itself: the same listing of a directory in the guest's own memory-backed
# root, no NFS involved (sorting, formatting and lstat of every entry under emulation).
local = "/tmp/jfs-bench-ls-local"
os.makedirs(local, exist_ok=True)
for i in range(files):
    os.close(os.open(os.path.join(local, "f%05d" % i), os.O_WRONLY | os.O_CREAT, 0o644))
res["ls_l_local_s"] = timed(lambda: subprocess.run(["ls", "-l", local], stdout=subprocess.DEVNULL, check=True))
print("BENCH " + json.dumps(res), flush=True)
`;
