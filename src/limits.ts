/**
 * Every limit and default of jfs in one place. Each one bounds memory, time or wire size
 * somewhere; the load-time asserts at the bottom keep them consistent with each other.
 */
import { assert } from "./assert.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

// ---- Names and the namespace (POSIX / Linux limits) ----
export const NAME_BYTES_MAX = 255;
export const SYMLINK_TARGET_BYTES_MAX = 4096;
export const PATH_BYTES_MAX = 4096;
export const XATTR_NAME_BYTES_MAX = 255;
export const XATTR_VALUE_BYTES_MAX = 64 * KiB;
/** Linux refuses listxattr() results above 64 KiB; so do we. */
export const XATTR_LIST_BYTES_MAX = 64 * KiB;
export const NLINK_MAX = 0xffff_ffff;
/** Files are addressed by number offsets in the core: keep every byte offset exact. */
export const FILE_SIZE_BYTES_MAX = Number.MAX_SAFE_INTEGER;
export const INODE_MAX = Number.MAX_SAFE_INTEGER;
export const READDIR_ENTRIES_MAX = 4096;

// ---- Inodes ----
export const ROOT_INODE = 1;
/** The trash directory: reachable as /.trash, never listed. */
export const TRASH_INODE = 2;
export const FIRST_FREE_INODE = 3;
/** Inodes and slice ids are reserved from the meta engine in batches, like JuiceFS. */
export const INODE_BATCH = 1000;
export const SLICE_ID_BATCH = 1000;

// ---- Layout of file data (JuiceFS's) ----
export const CHUNK_BYTES = 64 * MiB;
export const BLOCK_SIZE_KIB_DEFAULT = 4096;
export const BLOCK_SIZE_KIB_MIN = 64;
export const BLOCK_SIZE_KIB_MAX = 16384;
/** A chunk whose slice list grows beyond this is compacted into fewer slices. */
export const CHUNK_SLICES_COMPACT_THRESHOLD = 100;
/** Hard bound on one chunk's slice list; writers wait for compaction beyond it. */
export const CHUNK_SLICES_MAX = 2000;

// ---- Meta engine ----
export const TXN_RETRIES_MAX = 50;
export const TXN_RETRY_BACKOFF_MS_MAX = 100;
/** How long a SQLite transaction waits for another process's write lock before failing. */
export const TXN_BUSY_WAIT_MS_MAX = 30_000;
/**
 * SQLite group commit: write transactions queued while one group runs are committed together,
 * one COMMIT (one WAL fsync) for up to this many. Bounded so that one group's savepoints and
 * the time the event loop spends in it stay small.
 */
export const SQLITE_GROUP_TXNS_MAX = 64;
/**
 * A transaction committed without waiting for its sync (TxnOptions.deferSync: a FUSE create,
 * made durable by its close) is synced by the engine at the latest this long after its commit,
 * if nothing else synced it: a crash loses at most about this much of such changes.
 */
export const DEFERRED_SYNC_DELAY_MS = 1_000;
/** Redis write transactions in flight per engine; each holds one connection (WATCH state). */
export const REDIS_TXN_CONNECTIONS_MAX = 16;
/** TCP connect, and separately the whole open (connect, AUTH, SELECT, PING). */
export const REDIS_CONNECT_TIMEOUT_MS = 5_000;
export const REDIS_OPEN_TIMEOUT_MS = 10_000;
/** Heartbeat interval cap; a shorter session timeout beats five times per timeout. */
export const SESSION_HEARTBEAT_MS = 12_000;
/**
 * Default session timeout (`--session-timeout`): a session whose heartbeat is older than its
 * timeout, by the engine's clock, is dead; a live node or `jfs status`/`destroy` expires it.
 */
export const SESSION_EXPIRE_MS = 5 * 60_000;
/** Shortest `--session-timeout` (tests use it; real volumes keep minutes). */
export const SESSION_TIMEOUT_MS_MIN = 1000;
export const SESSION_TIMEOUT_MS_MAX = 24 * 3_600_000;
export const TRASH_DAYS_DEFAULT = 1;
/** A serving process empties the trash of entries older than the trash days this often. */
export const TRASH_CLEANUP_MS = 3_600_000;
/**
 * A serving process re-reads the settings `jfs config` changes (capacity, inodes, trash days)
 * this often, or every heartbeat when that is sooner (a short `--session-timeout`, as tests use).
 * JuiceFS waits a minute; one small read every 10 s costs nothing and a new user sees it work.
 */
export const FORMAT_RELOAD_MS = 10_000;
/**
 * How long a released file stays registered before a batch removes its row. Registering is a
 * write transaction (0.5-0.7 ms on SQLite, the largest part of a hot open), so the linger
 * spans a training epoch: every file of a dataset is reopened once per epoch, minutes apart,
 * and then opens with a read. The cost: a file another node deletes while it lingers here
 * keeps its data until the row goes (at most this long, or until this session ends).
 */
export const OPEN_LINGER_MS = 10 * 60_000;
/** Released files kept registered at most; beyond, the longest released go first. */
export const OPEN_LINGER_FILES_MAX = 100_000;
/** Open-file rows removed per transaction. */
export const OPEN_LINGER_BATCH = 128;
/** A blocking lock (F_SETLKW, blocking flock) polls the engine from the first to the last of
 * these, doubling: a waiter on another node wakes within LOCK_POLL_MS_MAX of the release. */
export const LOCK_POLL_MS_MIN = 10;
export const LOCK_POLL_MS_MAX = 500;
/**
 * NLM (jfs serve --nfs): after a start, for this long only reclaims of locks clients held
 * before are granted (knfsd waits 90 s; ours is shorter: a client reclaims within seconds of
 * hearing of the restart, and every fresh lock waits the whole period out).
 */
export const NLM_GRACE_SEC_DEFAULT = 15;
/** A call back to a client's lockd (the answer to an asynchronous NLM *_MSG) gives up after. */
export const NLM_CALLBACK_TIMEOUT_MS = 10_000;
/** A blocked NLM LOCK that its client stops resending (Linux: every 30 s) is given up. */
export const NLM_BLOCKED_IDLE_MS = 120_000;
/** Lock records one session may hold on one inode (split ranges grow it): bounds a record. */
export const LOCK_RECORDS_MAX = 1024;
/** Directory entries asked per readdir by tree walks (fsck, gc's inventory, warmup). */
export const TREE_WALK_PAGE_ENTRIES = 1000;

// ---- Data path defaults (flags of serve / mount) ----
/**
 * The write buffer, uploads in flight included (each counts its block and the copy S3's HTTP
 * client sends, src/chunk/store.ts). JuiceFS's default is 300 MiB. A stream only needs room for
 * the uploads in flight: 96 MiB holds 24 blocks of 4 MiB on a file bucket and 12 on S3 (each
 * counted twice), and wrote as fast as 128 (16 on S3) and 300 did: alternated, a FUSE 1 GiB
 * write to s3rver ran at 174-186 against 174-175 MiB/s (peak RSS 188-189 against 222-225), a
 * 4 GiB nfs-cp to a file bucket at 519-605 against 383-591 MiB/s (239-262 against 275-294 MiB),
 * docs/benchmarks.md "Memory bounds". A store far away, where each upload takes long, wants a
 * larger --buffer-size.
 */
export const BUFFER_SIZE_MIB_DEFAULT = 96;
export const MAX_UPLOADS_DEFAULT = 20;
export const CACHE_SIZE_MIB_DEFAULT = 100 * 1024;
export const FREE_SPACE_RATIO_DEFAULT = 0.1;
export const PREFETCH_DEFAULT = 1;
export const MAX_READAHEAD_MIB_DEFAULT = 64;
export const FLUSH_IDLE_MS = 1000;
export const FLUSH_AGE_MS = 5000;
/**
 * Blocks read (or being read ahead) in memory, loads in flight included. It must hold the
 * readahead window (readers cap their window at half of it) plus the blocks being read; more
 * buys little: with a disk cache, re-reads come from it (and the kernel's page cache), and
 * JuiceFS likewise keeps only its read buffers in memory. At 128 MiB a cold sequential read
 * of 1 GiB peaked at 282 MiB RSS (issue 12).
 */
export const MEM_CACHE_BYTES_DEFAULT = 128 * MiB;
/**
 * The memory cache and the write buffer share one bound: blocks cached for readers plus write
 * buffers in use stay within max(--buffer-size, the memory cache's capacity), so a server that
 * read a lot and then writes a stream does not hold a full cache and a full buffer at once
 * (JuiceFS's --buffer-size likewise covers read and write buffers). Writes come first: the
 * cache gives way down to this much, enough for a reader's block and a few ahead of it.
 */
export const MEM_CACHE_BYTES_UNDER_WRITES_MIN = 16 * MiB;
export const MAX_DELETES_DEFAULT = 10;
/** The write buffer is made of pages this big; it divides every block size. */
export const WRITE_PAGE_BYTES = 64 * KiB;
/**
 * Free write buffers kept for reuse (within what the write buffer leaves unused). They churn at
 * the write rate; reusing them saves page faults and the memory an allocator keeps for freed
 * blocks (a 1 GiB stream held ~45 MiB more RSS when they were freed and mapped again).
 */
export const WRITE_POOL_BYTES_MAX = 32 * MiB;
/**
 * A block whose first write starts at its first byte and is at least this long (a streaming
 * write) gets one block-sized buffer rather than pages: no copy into a contiguous buffer for
 * the upload, and one size of buffer cycling through the pool. Small writes keep using pages,
 * so a small file holds 64 KiB, not a whole block.
 */
export const WRITE_WHOLE_BLOCK_FIRST_BYTES_MIN = 128 * KiB;
/** A write is copied in pieces of at most this, each reserving buffer space on its own. */
export const WRITE_PIECE_BYTES_MAX = 256 * KiB;
/** Smallest write buffer: a few pieces must fit, or writers could wait on each other forever. */
export const BUFFER_SIZE_BYTES_MIN = 4 * (WRITE_PIECE_BYTES_MAX + 2 * WRITE_PAGE_BYTES);
/** Slices of one chunk still open to writes; older ones are frozen and uploaded (JuiceFS: 3). */
export const WRITABLE_SLICES_PER_CHUNK_MAX = 3;
/** How often buffered slices are checked against FLUSH_IDLE_MS / FLUSH_AGE_MS. */
export const FLUSH_TICK_MS = 100;
/** A chunk's slice list read from meta is reused this long (own commits drop it at once). */
export const CHUNK_SLICES_CACHE_MS = 1000;
/** Reads retry this often when an object vanished under a stale slice list (compaction). */
export const READ_STALE_RETRIES_MAX = 3;
/** Concurrent object GETs of one volume (reads, readahead, compaction). */
export const DOWNLOADS_MAX = 32;
/**
 * A downloaded block the chunk store adopts (frees when done, see src/chunk/buffers.ts) may be
 * a view that leaves this much of its buffer unseen: the checksum store returns the object
 * without its 4-byte trailer. Left to the collector, such blocks held 100-200 MiB of RSS
 * during a cold read (issue 12).
 */
export const ADOPTED_TAIL_BYTES_MAX = 64;
/**
 * Zero-copy reads (readv): distinct blocks that views handed out may keep alive at once, on
 * top of the memory cache (an evicted block stays until its last reply is written). Past it,
 * a read copies out of the block as before.
 */
export const READ_PINNED_BYTES_MAX = 64 * MiB;
/**
 * readv() bytes that are no view (disk cache preads, holes, buffered writes) land in recycled
 * buffers of this size, given back when the reply is written (src/vfs/spares.ts): a 1 MiB pread
 * into a fresh buffer paid its page faults each time (530-860 us against 270-380 us reused).
 */
export const READ_SPARE_BYTES = 1 * MiB;
/** Smaller reads take fresh buffers: as cheap as recycling. */
export const READ_SPARE_BYTES_MIN = 64 * KiB;
/**
 * A recycled-buffer pool (write pages and blocks, READ replies, WRITE records, read spares) that
 * hands out nothing for this long frees its idle buffers (src/idletrim.ts): reuse matters while
 * a kind of traffic flows, not through a phase of another kind.
 */
export const POOL_IDLE_TRIM_MS = 5_000;
/** Idle spare buffers kept; replies out at once beyond it take fresh ones. */
export const READ_SPARES_POOLED = 8;
/** Read replies (freed only by the collector) handed out between two nudges of it. */
export const UNOWNED_GC_NUDGE_BYTES = 32 * MiB;
/** Bytes queued for the disk cache at once; more blocks are not cached rather than queued. */
export const DISK_CACHE_PENDING_BYTES_MAX = 32 * MiB;
/**
 * Keys of a local bucket's blocks loaded once and not yet admitted to the disk cache
 * (admission.ts); the oldest are forgotten beyond it. 64Ki keys name 256 GiB of 4 MiB blocks
 * in a few MiB of memory.
 */
export const DISK_CACHE_ADMIT_KEYS_MAX = 64 * 1024;
/**
 * Cache files carry a crc32 per segment this big, so a read verifies only what it reads (see
 * src/chunk/cachefile.ts); it divides every block size.
 */
export const CACHE_SEGMENT_BYTES = 64 * KiB;
/**
 * Cache files kept open (with their segment crcs) for reads; least recently used are closed. A
 * sequential re-read of more blocks than this reopens every one of them each pass (an open on
 * the I/O pool and a trailer read per block): with 128, repeated 1 MiB reads of a 1 GiB file
 * (256 blocks) ran at 98-224 us per MiB, with 1024 at 89-94. 1024 descriptors (Bun raises the
 * soft limit to the hard one at start) cover a 4 GiB working set of 4 MiB blocks.
 */
export const DISK_CACHE_OPEN_FILES_MAX = 1024;
/**
 * Disk cache reads (and small cache file writes) up to this size are plain blocking syscalls:
 * about 10 us from the page cache against 100+ us for a trip through the I/O thread pool, and
 * short enough on a local SSD not to hold up the event loop. Larger ones stay asynchronous.
 */
export const DISK_CACHE_SYNC_IO_BYTES_MAX = 128 * KiB;
/** A failed upload of a staged block (writeback) is retried after this, doubling up to the max. */
export const WRITEBACK_RETRY_MS_MIN = 500;
export const WRITEBACK_RETRY_MS_MAX = 30_000;
/** How often the disk cache re-checks the free space of its disk. */
export const DISK_CACHE_FREE_CHECK_MS = 1000;
/** Background deletion: how often it looks for work, and how much one round takes. */
export const GC_INTERVAL_MS = 1000;
export const UNUSED_SLICES_BATCH = 1000;
export const DELETED_FILES_BATCH = 100;
/** Chunks of deleted files released in one transaction (slices.ts releaseDeletedFiles). */
export const DELETED_CHUNKS_PER_TXN = 128;
/** Chunks waiting for compaction; requests beyond are dropped (they come back). */
export const COMPACT_QUEUE_MAX = 1000;
/** A chunk is checked for compaction after this many commits of this process to it. */
export const COMPACT_CHECK_EVERY_COMMITS = 10;
/** Inodes whose slice lists and readahead state the reader keeps. */
export const READ_INODES_TRACKED_MAX = 4096;
/**
 * Inodes whose refused writes (meta said ENOSPC, file gone ...) the VFS remembers for stateless
 * (NFS) writers. Beyond, the oldest are forgotten and every file's write verifier changes, so
 * NFS clients resend rather than lose data (src/vfs/writeerrors.ts).
 */
export const WRITE_ERRORS_TRACKED_MAX = 4096;
/** Attributes the VFS reuses this long (JuiceFS's attr-cache default, 1 s), at most this many. */
export const ATTR_CACHE_MS = 1000;
export const ATTR_CACHE_ENTRIES_MAX = 100_000;
/** Inodes whose last seen change time the VFS remembers, to notice changes by others. */
export const CHANGE_STAMPS_MAX = 65_536;
/** copy_file_range copies through memory in pieces of at most this. */
export const COPY_PIECE_BYTES = 4 * MiB;

// ---- Epoch prefetch (src/vfs/prefetch.ts: a loader's file order handed to the mount) ----
/** The xattr a loader sets on a directory to hand over its order, and reads for progress. */
export const PREFETCH_XATTR = "user.jfs.prefetch";
/** The same with the value appended to the order already handed over (values are <= 64 KiB). */
export const PREFETCH_APPEND_XATTR = "user.jfs.prefetch.append";
/** Files of the order loaded at once: the GETs one volume runs at once (DOWNLOADS_MAX). */
export const PREFETCH_FILES_IN_FLIGHT = 32;
/**
 * How far the prefetch runs ahead of the last listed file opened, in files; it also stays
 * within the readahead bytes (half the memory cache), so what it loads is not evicted before
 * it is read.
 */
export const PREFETCH_FILES_AHEAD = 1024;
/** Of a big file only its start is loaded (readahead takes over when it is read). */
export const PREFETCH_FILE_BYTES_MAX = 4 * MiB;
/**
 * Files a prefetch loads are registered as open ahead of their opens (Meta.registerAhead), up
 * to this many in one write transaction, gathered for at most PREFETCH_REGISTER_DELAY_MS: a
 * cold epoch's first opens then read, where each would commit (and fsync) a transaction.
 */
export const PREFETCH_REGISTER_BATCH = 128;
export const PREFETCH_REGISTER_DELAY_MS = 5;
/** Orders held at once, one per process (the ranks of a job on one node); the oldest goes. */
export const PREFETCH_ORDERS_MAX = 64;
/** Paths one order holds at most (one epoch of a dataset). */
export const PREFETCH_LIST_FILES_MAX = 10_000_000;
/**
 * Directory prefetch (src/vfs/dirprefetch.ts), with no order handed over: when reads of this
 * many distinct small files of one directory missed the caches within DIR_PREFETCH_WINDOW_MS,
 * the directory's other small files are loaded too (a loader reading a dataset at random).
 */
export const DIR_PREFETCH_MISSES_MIN = 4;
/**
 * Long enough for a big dataset read cold: 100 files/s spread over 1,000 directories is one
 * miss per directory every 10 s (a 5 s window never saw 8 in bench/epoch.ts's 100 directories).
 */
export const DIR_PREFETCH_WINDOW_MS = 60_000;
/** Files up to this size count as small (and are the ones loaded). */
export const DIR_PREFETCH_FILE_BYTES_MAX = 1 * MiB;
/** Files of one directory loaded at most; the bytes stay within the readahead bytes too. */
export const DIR_PREFETCH_FILES_MAX = 4096;
/** A prefetched directory is not prefetched again for this long. */
export const DIR_PREFETCH_AGAIN_MS = 60_000;
/**
 * Files loaded at once by directory prefetches, all directories together: half the GETs the
 * volume runs at once, so reads that miss still find GETs free rather than queue behind them.
 */
export const DIR_PREFETCH_IN_FLIGHT = 16;
/** Files queued for directory prefetch at most, and directories tracked at most. */
export const DIR_PREFETCH_QUEUED_MAX = 65_536;
export const DIR_PREFETCH_DIRS_TRACKED_MAX = 4096;

// ---- Object storage ----
export const OBJECT_REQUEST_TIMEOUT_MS = 60_000;
export const OBJECT_RETRIES_MAX = 10;
/** Jittered exponential backoff between object store attempts: base, doubled, capped. */
export const OBJECT_RETRY_BACKOFF_MS_BASE = 100;
export const OBJECT_RETRY_BACKOFF_MS_MAX = 5_000;
export const OBJECT_LIST_PAGE_MAX = 1000;
/**
 * The file store's put: a delete pruning empty directories races with puts into them (the write
 * finds its directory gone, or a recursive mkdir sees it exist, then vanish). Both heal by
 * starting over; a real key/directory clash fails every attempt.
 */
export const FILE_PUT_ATTEMPTS_MAX = 5;
/**
 * The file store writes an object of at most this many bytes as one buffer (its parts copied
 * together) in one I/O-pool job (writeFile with flush: open, write, fsync, close), where parts
 * written in place take four (open, writev, fsync, close). A small put's latency is mostly
 * those round trips (a 16 KiB put of an NFS create took 0.62 ms, two fsyncs of 48 us in it);
 * above this the copy would cost more than the three round trips it saves.
 */
export const FILE_PUT_COPY_BYTES_MAX = 256 * 1024;
/** Directories the file store remembers as durable before the memo is cleared (few levels). */
export const FILE_DURABLE_DIRS_MAX = 4096;
/** Concurrent object deletes (gc --delete, destroy) and HEADs (fsck). */
export const OBJECT_DELETE_CONCURRENCY = 16;
export const OBJECT_HEAD_CONCURRENCY = 32;
/**
 * Names `jfs rmr` removes in one meta transaction: a batch is one commit (one fsync, one
 * round trip) instead of one per name, yet small enough that a conflict retries little work
 * and a Redis MULTI / PostgreSQL statement list stays short.
 */
export const RMR_BATCH_ENTRIES = 100;
/**
 * A long command's plain progress line (stderr not a terminal) comes this often, the first
 * after as long: a log gets a line per 5 s of a long job, and a job of a few seconds (as in
 * the tests, on a busy machine too) keeps its stderr empty.
 */
export const PROGRESS_LINE_MS = 5000;
/** gc's default --min-age: younger objects may belong to a slice whose upload is uncommitted. */
export const LEAK_AGE_SEC_MIN_DEFAULT = 3600;
/** A failed read of one object (the read gets EIO) is logged at most once per this. */
export const OBJECT_READ_FAILURE_LOG_MS = 60_000;
/** Objects whose last failure log time is remembered; the oldest are forgotten beyond it. */
export const OBJECT_READ_FAILURE_KEYS_MAX = 1024;
/** Read failure lines per OBJECT_OUTAGE_LOG_MS at most; the rest are counted in the next one. */
export const OBJECT_READ_FAILURE_LINES_MAX = 10;
/** While object store requests are being retried, one line says so this often. */
export const OBJECT_OUTAGE_LOG_MS = 10_000;
/** A stopping serve / mount says what it still waits for after this, then every outage line. */
export const STOP_FIRST_REPORT_MS = 2_000;
/**
 * A stopping serve / mount gives up flushing once the object store has not answered for this
 * long since the signal (buffered writes not yet uploaded are lost, as with a second signal;
 * no NFS COMMIT or fsync acknowledged them). A store that answers, however slowly, is waited for.
 */
export const STOP_OUTAGE_WAIT_MS = 20_000;

// ---- Wire (NFS / RPC / FUSE) ----
export const NFS_IO_BYTES_MAX = 1 * MiB;
/** READ replies of at least this many bytes are filled into recycled buffers (readbuffers.ts). */
export const NFS_READ_BUFFER_BYTES_MIN = 64 * KiB;
/** Idle READ buffers (of NFS_IO_BYTES_MAX) a server keeps for reuse. */
export const NFS_READ_BUFFERS_POOLED = 16;
export const NFS_FILE_HANDLE_BYTES_MAX = 64;
/** One RPC record may hold a 1 MiB WRITE plus headers; nothing legitimate is larger. */
export const RPC_RECORD_BYTES_MAX = NFS_IO_BYTES_MAX + 64 * KiB;
export const RPC_AUTH_BODY_BYTES_MAX = 400;
export const RPC_AUTH_SYS_GIDS_MAX = 16;
export const RPC_IN_FLIGHT_PER_CONNECTION_MAX = 128;
/** Fragments in one record: a stream of empty fragments must not keep a record open forever. */
export const RPC_RECORD_FRAGMENTS_MAX = 1024;
/** authsys_parms.machinename<255> (RFC 5531 appendix A). */
export const RPC_AUTH_SYS_MACHINE_NAME_BYTES_MAX = 255;
export const RPC_CONNECTIONS_MAX = 1024;
/**
 * Bytes all RPC connections together hold for calls (records received and not yet answered,
 * replies not yet sent), beyond which they stop reading (nfs/rpc/budget.ts). A WRITE's data is
 * held here until its procedure has copied it into the write buffer (--buffer-size), so `jfs
 * serve` holds at most --buffer-size + this + one record (+ a small one per connection).
 */
export const RPC_HELD_BYTES_MAX = 64 * MiB;
/**
 * Above RPC_HELD_BYTES_MAX, a connection with nothing in flight may still send one record this
 * small: every NFS call but a big WRITE (a SYMLINK's 4 KiB target with 400 bytes of auth fits).
 */
export const RPC_SMALL_RECORD_BYTES_MAX = 8 * KiB;
/** Bytes received by all RPC connections between two nudges of the collector (budget.ts). */
export const RPC_GC_NUDGE_BYTES = 32 * MiB;
/** `--idle-timeout` default: connections with nothing in flight are closed after it. */
export const RPC_IDLE_TIMEOUT_SEC_DEFAULT = 300;
/** A record not complete this long after its first byte, or replies unread this long, close. */
export const RPC_RECORD_STALL_MS = 30_000;
/** How often idle and stall timers are checked: a quarter of the shortest, within these. */
export const RPC_TIMER_TICK_MS_MIN = 10;
export const RPC_TIMER_TICK_MS_MAX = 1000;
/** A graceful stop waits this long for in-flight calls and unread replies, then cuts. */
export const RPC_STOP_GRACE_MS = 10_000;
/** Queued reply pieces one writev takes at most (Linux's IOV_MAX is 1024). */
export const RPC_WRITEV_PIECES_MAX = 64;
/** Queued reply bytes from which a connection writes on the I/O pool (nfs/rpc/sendfd.ts). */
export const RPC_POOL_WRITE_BYTES_MIN = 256 * KiB;
/**
 * A record this big (spanning socket chunks) of a procedure that keeps nothing of its
 * arguments (NFS WRITE) is assembled in a recycled buffer; the server keeps this many idle.
 */
export const RPC_RECORD_RECYCLE_BYTES_MIN = 64 * KiB;
export const RPC_RECORD_BUFFERS_POOLED = 16;
/** The port NFS clients assume (RFC 1813 section 1.2 leaves it to convention: 2049). */
export const NFS_PORT_DEFAULT = 2049;
/** FSINFO rtpref / wtpref: whole 1 MiB transfers, so one WRITE fills a good part of a block. */
export const NFS_IO_PREF_BYTES = NFS_IO_BYTES_MAX;
/** FSINFO dtpref: the READDIR(PLUS) reply size we suggest (a few hundred entries). */
export const NFS_DIR_PREF_BYTES = 64 * KiB;
/** A READDIR(PLUS) reply is never built larger than this, whatever count the client asks. */
export const NFS_DIR_REPLY_BYTES_MAX = NFS_IO_BYTES_MAX;
/** Entries fetched from the VFS per round while filling one READDIR(PLUS) reply. */
export const NFS_DIR_FETCH_ENTRIES_MAX = 1024;
/** uid/gid of AUTH_NONE callers and squashed users (the nobody / nogroup convention). */
export const NFS_ANON_ID_DEFAULT = 65534;
/** --allow entries: each is checked on every call, so the list stays short. */
export const NFS_ALLOW_RULES_MAX = 64;
/**
 * Export confinement (nfs/nfs3/scope.ts): directories known to lie inside the export, so that
 * a handle costs no extra meta round trip once its directory was checked. Bounded, and each
 * entry expires: a directory another server moved out of the export (or into the trash) stops
 * being reachable by its old handles within this time.
 */
export const NFS_SCOPE_CACHE_ENTRIES_MAX = 65_536;
export const NFS_SCOPE_CACHE_TTL_MS = 2000;
/** Parent steps walked from a handle to the export root; deeper is refused (fail closed). */
export const NFS_SCOPE_DEPTH_MAX = 4096;
/** Hard links of one file tried when looking for one inside the export. */
export const NFS_SCOPE_PARENTS_MAX = 64;
/** MOUNT v3 dirpath<MNTPATHLEN> and name<MNTNAMLEN> (RFC 1813 appendix I). */
export const MOUNT_PATH_BYTES_MAX = 1024;
export const MOUNT_NAME_BYTES_MAX = 255;
/** Clients remembered for MOUNT DUMP; the oldest are forgotten beyond it (DUMP is advisory). */
export const MOUNT_ENTRIES_MAX = 1024;
export const FUSE_MAX_WRITE_BYTES = 1 * MiB;
/** The kernel's page size on the platforms we run on (x86-64, aarch64 with 4 KiB pages). */
export const FUSE_PAGE_BYTES = 4 * KiB;
/** Pages in one FUSE request (FUSE_MAX_PAGES): a whole max_write fits one WRITE or READ. */
export const FUSE_MAX_PAGES = FUSE_MAX_WRITE_BYTES / FUSE_PAGE_BYTES;
/** A /dev/fuse read must fit the largest request: a max_write WRITE plus its headers. */
export const FUSE_READ_BUFFER_BYTES = FUSE_MAX_WRITE_BYTES + FUSE_PAGE_BYTES;
/** Background requests (readahead, writeback) the kernel keeps in flight; it throttles at 3/4. */
export const FUSE_MAX_BACKGROUND = 64;
export const FUSE_CONGESTION_THRESHOLD = 48;
/** Requests handed to the VFS at once; the reader threads stop reading /dev/fuse beyond it. */
export const FUSE_IN_FLIGHT_MAX = 256;
/** Threads (each with its own cloned /dev/fuse fd) blocking in read(2) for requests. */
export const FUSE_READER_THREADS = 2;
/**
 * Kernel readahead of a mount (its bdi's read_ahead_kb, 128 by default): sequential reads
 * become several concurrent max_write-sized READs instead of one 128 KiB READ at a time.
 */
export const FUSE_READAHEAD_KIB = 4096;
/** One COPY_FILE_RANGE reply counts its bytes in a uint32_t; callers loop for the rest. */
export const FUSE_COPY_RANGE_BYTES_MAX = 64 * MiB;
/** st_blksize we report: the I/O size cp and stdio pick for our files. */
export const FUSE_BLKSIZE_BYTES = 128 * KiB;
/** statfs block unit (f_bsize, f_frsize). */
export const FUSE_STATFS_BLOCK_BYTES = 4 * KiB;
/** Kernel cache timeouts (attr_valid / entry_valid), seconds, as JuiceFS's defaults. */
export const FUSE_ATTR_CACHE_SEC_DEFAULT = 1;
export const FUSE_ENTRY_CACHE_SEC_DEFAULT = 1;
export const FUSE_DIR_ENTRY_CACHE_SEC_DEFAULT = 1;
/**
 * Reopens within this many seconds of an unchanged file (size, mtime, ctime read fresh at open)
 * keep the kernel's page cache: no limit by default, since the attributes decide (see
 * OpState.keepCache); 0 drops the cache at every open.
 */
export const FUSE_OPEN_CACHE_SEC_DEFAULT = Number.POSITIVE_INFINITY;
/** Files whose last open the open cache remembers. */
export const FUSE_OPEN_CACHE_INODES_MAX = 65_536;
/**
 * Inodes remembered as having had a POSIX lock granted through this mount: their read-only
 * opens keep FLUSH at close(2), which is where close drops the process's locks (ops_file.ts).
 */
export const FUSE_LOCKED_INODES_MAX = 4096;
/** Supplementary groups of a pid (from /proc/PID/status) are reused this long. */
export const FUSE_GROUPS_CACHE_MS = 1000;
export const FUSE_GROUPS_CACHE_PIDS_MAX = 4096;
/** Directory entries fetched from the VFS at once and kept per open directory handle. */
export const FUSE_READDIR_BATCH = 1024;
/** A stopping mount waits this long for its kernel connection to end, then aborts it. */
export const FUSE_STOP_GRACE_MS = 10_000;
/**
 * Period of the do-nothing timer that holds the event loop open while a FUSE connection is
 * live (see FuseChannel): it fires once an hour, so it costs nothing.
 */
export const FUSE_KEEP_ALIVE_MS = 3_600_000;
/** `jfs mount -d` waits this long for the background mount to appear. */
export const FUSE_MOUNT_WAIT_MS = 60_000;

export const Units = { KiB, MiB, GiB } as const;

assert(
  BLOCK_SIZE_KIB_MIN <= BLOCK_SIZE_KIB_DEFAULT && BLOCK_SIZE_KIB_DEFAULT <= BLOCK_SIZE_KIB_MAX,
);
assert(BLOCK_SIZE_KIB_MAX * KiB <= CHUNK_BYTES, "a block never spans chunks");
assert(CHUNK_BYTES % (BLOCK_SIZE_KIB_MAX * KiB) === 0, "blocks tile a chunk");
assert(CHUNK_SLICES_COMPACT_THRESHOLD < CHUNK_SLICES_MAX);
assert((BLOCK_SIZE_KIB_MIN * KiB) % WRITE_PAGE_BYTES === 0, "write pages tile every block");
assert(WRITE_POOL_BYTES_MAX >= BLOCK_SIZE_KIB_MAX * KiB, "the pool can hold any block");
assert(WRITE_WHOLE_BLOCK_FIRST_BYTES_MIN <= WRITE_PIECE_BYTES_MAX, "a piece can start a block");
assert(WRITE_PIECE_BYTES_MAX % WRITE_PAGE_BYTES === 0 && WRITE_PIECE_BYTES_MAX <= CHUNK_BYTES);
assert(BUFFER_SIZE_BYTES_MIN <= BUFFER_SIZE_MIB_DEFAULT * MiB);
assert(DISK_CACHE_PENDING_BYTES_MAX >= BLOCK_SIZE_KIB_MAX * KiB, "any block can be cached");
assert((BLOCK_SIZE_KIB_MIN * KiB) % CACHE_SEGMENT_BYTES === 0, "cache segments tile every block");
assert(DISK_CACHE_OPEN_FILES_MAX >= 1);
assert(MEM_CACHE_BYTES_DEFAULT >= 2 * MAX_READAHEAD_MIB_DEFAULT * MiB, "room for readahead");
assert(MEM_CACHE_BYTES_UNDER_WRITES_MIN <= MEM_CACHE_BYTES_DEFAULT);
assert(FLUSH_TICK_MS < FLUSH_IDLE_MS && FLUSH_IDLE_MS < FLUSH_AGE_MS);
assert(FIRST_FREE_INODE > TRASH_INODE && TRASH_INODE > ROOT_INODE);
assert(NFS_IO_BYTES_MAX < RPC_RECORD_BYTES_MAX);
assert(RPC_RECORD_BYTES_MAX < 2 ** 31, "a record fits one fragment's 31-bit length");
assert(RPC_IN_FLIGHT_PER_CONNECTION_MAX >= 1 && RPC_RECORD_FRAGMENTS_MAX >= 1);
assert(RPC_HELD_BYTES_MAX >= RPC_RECORD_BYTES_MAX, "the budget holds at least one record");
assert(RPC_RECORD_STALL_MS < RPC_IDLE_TIMEOUT_SEC_DEFAULT * 1000);
assert(SESSION_HEARTBEAT_MS * 5 < SESSION_EXPIRE_MS);
assert(0 < LOCK_POLL_MS_MIN && LOCK_POLL_MS_MIN <= LOCK_POLL_MS_MAX);
// A blocked NLM wait outlives several of the Linux client's 30 s resends before it is dropped.
assert(NLM_BLOCKED_IDLE_MS >= 3 * 30_000 && NLM_CALLBACK_TIMEOUT_MS > 0);
assert(OBJECT_READ_FAILURE_KEYS_MAX >= 1 && OBJECT_READ_FAILURE_LINES_MAX >= 1);
assert(STOP_FIRST_REPORT_MS < STOP_OUTAGE_WAIT_MS && OBJECT_OUTAGE_LOG_MS < STOP_OUTAGE_WAIT_MS);
assert(SESSION_TIMEOUT_MS_MIN <= SESSION_EXPIRE_MS && SESSION_EXPIRE_MS <= SESSION_TIMEOUT_MS_MAX);
assert(
  FUSE_MAX_WRITE_BYTES % FUSE_PAGE_BYTES === 0 && FUSE_MAX_PAGES <= 256,
  "kernel max_pages limit",
);
assert(FUSE_CONGESTION_THRESHOLD < FUSE_MAX_BACKGROUND && FUSE_MAX_BACKGROUND < 65536);
assert(FUSE_READDIR_BATCH <= READDIR_ENTRIES_MAX);
assert(NFS_IO_PREF_BYTES <= NFS_IO_BYTES_MAX && NFS_DIR_PREF_BYTES <= NFS_DIR_REPLY_BYTES_MAX);
assert(NFS_DIR_REPLY_BYTES_MAX < RPC_RECORD_BYTES_MAX, "a READDIR reply fits one record");
assert(NFS_DIR_FETCH_ENTRIES_MAX <= READDIR_ENTRIES_MAX);
assert(TREE_WALK_PAGE_ENTRIES <= READDIR_ENTRIES_MAX);
assert(NFS_FILE_HANDLE_BYTES_MAX === 64, "NFS3_FHSIZE (RFC 1813 section 2.4)");

// ---- PostgreSQL engine ----
/** Connections per engine (Bun.sql pool); each transaction holds one until it ends. */
export const PG_CONNECTIONS_MAX = 16;
export const PG_CONNECT_TIMEOUT_S = 5;
/** Rows a usedSpace/usedInodes counter is spread over, so concurrent creates rarely conflict. */
export const PG_COUNTER_SHARDS = 16;
/** How long a transaction waits for a restarting server before the caller gets EIO. */
export const PG_OUTAGE_WAIT_MS_MAX = 30_000;
/**
 * One-row writes a commit folds into one statement (data-modifying CTEs): each statement sent
 * costs client and server time even pipelined, and a create writes five rows.
 */
export const PG_WRITES_PER_STATEMENT_MAX = 16;
/** Writes per transaction when `jfs load` applies a dump. */
export const DUMP_LOAD_BATCH_RECORDS = 500;

// ---- S3 gateway ----
/** S3 refuses a request signed further than this from its clock (RequestTimeTooSkewed). */
export const GATEWAY_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** A presigned URL lives at most a week, as on S3. */
export const GATEWAY_PRESIGN_EXPIRES_SEC_MAX = 7 * 24 * 3600;
/** S3's key length limit, in UTF-8 bytes. */
export const GATEWAY_KEY_BYTES_MAX = 1024;
/** Keys per list reply, and per DeleteObjects request (S3's 1000 both). */
export const GATEWAY_LIST_KEYS_MAX = 1000;
export const GATEWAY_DELETE_KEYS_MAX = 1000;
/** One aws-chunked chunk (clients send 64 KiB to 8 MiB) and the line that announces it. */
export const GATEWAY_CHUNK_BYTES_MAX = 16 * 1024 * 1024;
export const GATEWAY_CHUNK_HEADER_BYTES_MAX = 4096;
/** Bodies the gateway reads whole (DeleteObjects XML). */
export const GATEWAY_XML_BODY_BYTES_MAX = 2 * 1024 * 1024;
/** GetObject reads the file in pieces of this size. */
export const GATEWAY_READ_BYTES = 1024 * 1024;
/** Entries a listing holds per directory it walks. */
export const GATEWAY_DIR_ENTRIES_MAX = 1_000_000;
export const GATEWAY_PORT_DEFAULT = 9000;
/** S3's largest single PUT (5 GiB); larger objects need multipart. */
export const GATEWAY_OBJECT_BYTES_MAX = 5 * 1024 * 1024 * 1024;
/** S3's multipart limits: part numbers 1..10000, every part but the last at least 5 MiB. */
export const GATEWAY_PARTS_MAX = 10_000;
export const GATEWAY_PART_BYTES_MIN = 5 * 1024 * 1024;
/**
 * GET replies up to this size are read whole before they are sent, so that they carry a
 * Content-Length (Bun.serve sends streamed bodies chunked, without one). The aws CLI and boto3
 * fetch large objects in 8 MiB ranges, so this covers them; bigger replies stream.
 */
export const GATEWAY_WHOLE_GET_BYTES_MAX = 16 * 1024 * 1024;
assert(PREFETCH_FILES_IN_FLIGHT <= DOWNLOADS_MAX, "the epoch prefetch leaves GETs to the readers");
assert(DIR_PREFETCH_IN_FLIGHT < DOWNLOADS_MAX, "directory prefetch leaves GETs to the readers");

// --- Metrics (src/metrics, jfs stats) ---
/** JuiceFS's default metrics address: serve, mount and gateway listen here unless told. */
export const METRICS_ADDRESS_DEFAULT = "127.0.0.1:9567";
/**
 * With the default address, a busy port moves on to the next ones (a second mount on the same
 * machine), at most this many ports in all; an address given with --metrics is taken or refused.
 */
export const METRICS_PORT_TRIES = 10;
/** The live session count on /metrics is a meta round trip: reused this long between scrapes. */
export const METRICS_SESSIONS_CACHE_MS = 5_000;
/** `jfs stats` refreshes this often by default, and waits this long at most for one scrape. */
export const STATS_INTERVAL_SEC_DEFAULT = 1;
export const STATS_SCRAPE_TIMEOUT_MS = 5_000;
/** The exposition `jfs stats` accepts at most (a mount's is tens of KiB). */
export const STATS_EXPOSITION_BYTES_MAX = 16 * 1024 * 1024;

// ---- directory quotas (src/meta/quota.ts) ----
/** Levels a quota walk climbs from a directory to the root before it calls the tree corrupt. */
export const QUOTA_DIR_DEPTH_MAX = 100_000;
/** Directory -> parent hints a process keeps to read a quota walk's path in one round trip. */
export const QUOTA_PARENT_HINTS_MAX = 65_536;
/**
 * Entries a rename may count, inside its transaction, to move a directory without a quota of
 * its own across a quota boundary; a bigger tree gets EXDEV (mv then copies and deletes), as
 * XFS answers renames across project quotas.
 */
export const QUOTA_RENAME_SCAN_ENTRIES_MAX = 10_000;
