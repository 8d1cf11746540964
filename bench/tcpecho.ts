/**
 * The floor under bench/nfsrpc.ts's "one call at a time": the server CPU of a Bun TCP server
 * that answers each 128-byte request with a 120-byte reply (a GETATTR call and reply are about
 * that size) and does nothing else, one request in flight. Whatever an NFS call costs above
 * this is jfs's own work; this much is Bun's event loop, the epoll wake, recv and send.
 *
 *   bun bench/tcpecho.ts [--calls 60000]
 *
 * The server is a child (`bun bench/tcpecho.ts --serve`) on 127.0.0.1, so that its CPU
 * (utime + stime from /proc/PID/stat) does not include the client's.
 */
import { loadavg } from "node:os";

const REQUEST_BYTES = 128;
const REPLY_BYTES = 120;
const CLOCK_TICKS_PER_SEC = 100;

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

if (process.argv.includes("--serve")) {
  const reply = Buffer.alloc(REPLY_BYTES, 1);
  let pendingBytes = 0;
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, chunk) {
        pendingBytes += chunk.byteLength;
        for (; pendingBytes >= REQUEST_BYTES; pendingBytes -= REQUEST_BYTES) socket.write(reply);
      },
    },
  });
  console.log(server.port);
} else {
  const calls = Number(flag("calls", "60000"));
  const child = Bun.spawn(["bun", import.meta.path, "--serve"], { stdout: "pipe" });
  const firstLine = await child.stdout.getReader().read();
  const port = Number(new TextDecoder().decode(firstLine.value).trim());
  const cpuMicros = async () => {
    const stat = await Bun.file(`/proc/${child.pid}/stat`).text();
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const tick = 1e6 / CLOCK_TICKS_PER_SEC;
    return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
  };
  let answered: () => void = () => {};
  let receivedBytes = 0;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, chunk) {
        receivedBytes += chunk.byteLength;
        for (; receivedBytes >= REPLY_BYTES; receivedBytes -= REPLY_BYTES) answered();
      },
    },
  });
  const request = Buffer.alloc(REQUEST_BYTES, 2);
  const one = () =>
    new Promise<void>((resolve) => {
      answered = resolve;
      socket.write(request);
    });
  for (let i = 0; i < 5000; i++) await one(); // warm-up
  const loadAtStart = loadavg()[0] ?? 0;
  const before = await cpuMicros();
  const started = performance.now();
  for (let i = 0; i < calls; i++) await one();
  const seconds = (performance.now() - started) / 1000;
  const after = await cpuMicros();
  const user = (after.user - before.user) / calls;
  const system = (after.system - before.system) / calls;
  socket.end();
  child.kill();
  await child.exited;
  console.log(`bun bench/tcpecho.ts --calls ${calls}`);
  console.log(
    `1-minute load average: ${loadAtStart.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}`,
  );
  console.log(
    `server CPU ${(user + system).toFixed(1)} µs per request (user ${user.toFixed(1)}, ` +
      `system ${system.toFixed(1)}), ${Math.round(calls / seconds)} requests/s`,
  );
}
