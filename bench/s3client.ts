/**
 * Which S3 client costs least: @aws-sdk/client-s3 (configured as S3ObjectStore configured it
 * before it moved to fetch), Bun's built-in Bun.S3Client, and S3ObjectStore itself (fetch with our
 * own SigV4, src/object/s3sign.ts, plus its retry wrapper and outage tracker), on PUT and GET of
 * 16 KiB and 4 MiB against s3rver behind the SigV4 gate of the tests (test/harness).
 *
 * For each cell: requests/s at 1, 16 and 64 in flight, and CPU per request of this process
 * (process.cpuUsage, all threads, user + system). s3rver and the gate run in a child process,
 * so their CPU is not counted. The three clients run one after the other within each cell, so
 * ratios are taken under the same load.
 *
 * With --first-request OLD,NEW (two compiled binaries, e.g. dist/jfs built from two commits),
 * it also times a fresh `jfs objbench` of one 16 KiB object in each, 5 rounds alternating: the
 * first PUT's latency includes loading the client.
 *
 *   bun bench/s3client.ts [--write docs/benchmarks.md] [--first-request OLD_BIN,NEW_BIN]
 */
import { loadavg } from "node:os";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { S3ObjectStore } from "../src/object/s3.ts";
import { startS3Server } from "../test/harness/s3server.ts";
import { writeSection } from "./report.ts";

interface Server {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

interface Client {
  name: string;
  put(key: string, body: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array>;
}

const BUCKET = "bench";
const REGION = "us-east-1";
const SIZES_BYTES = [16 * 1024, 4 * 1024 * 1024];
const IN_FLIGHT = [1, 16, 64];
const WARMUP_REQUESTS = 8;

/** Enough requests for a steady rate, few enough for s3rver's disk and time. */
function requestsFor(sizeBytes: number, inFlight: number): number {
  return sizeBytes <= 64 * 1024 ? Math.max(200, 4 * inFlight) : Math.max(16, inFlight);
}

if (process.argv.includes("--serve")) {
  // Child: s3rver + gate; prints where, stops when the parent closes stdin.
  const s3 = await startS3Server();
  console.log(
    JSON.stringify({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey }),
  );
  for await (const _ of Bun.stdin.stream()) {
    // The parent never writes; the loop ends when it exits or closes the pipe.
  }
  await s3.stop();
  process.exit(0);
}

const writeIndex = process.argv.indexOf("--write");
const writePath = writeIndex < 0 ? undefined : process.argv[writeIndex + 1];
const firstIndex = process.argv.indexOf("--first-request");
const firstRequestBins =
  firstIndex < 0 ? undefined : (process.argv[firstIndex + 1] ?? "").split(",").filter(Boolean);
const FIRST_REQUEST_ROUNDS = 5;

const child = Bun.spawn([process.execPath, import.meta.path, "--serve"], {
  stdin: "pipe",
  stdout: "pipe",
  stderr: "inherit",
});
const server = await readServer(child.stdout);
try {
  await new S3ObjectStore({ bucketUrl: `${server.endpoint}/${BUCKET}`, ...server }).create();
  const clients = makeClients(server);
  const loadStart = loadavg()[0] ?? 0;
  const rows: string[] = [];
  const cpuAt1 = new Map<string, number>();
  for (const sizeBytes of SIZES_BYTES) {
    const body = new Uint8Array(sizeBytes);
    crypto.getRandomValues(body.subarray(0, Math.min(sizeBytes, 65536)));
    for (const client of clients) {
      for (let i = 0; i < WARMUP_REQUESTS; i++) {
        await client.put(`warm/${client.name}/${i}`, body);
        await client.get(`warm/${client.name}/${i}`);
      }
    }
    for (const op of ["PUT", "GET"] as const) {
      for (const inFlight of IN_FLIGHT) {
        const n = requestsFor(sizeBytes, inFlight);
        const cells: string[] = [];
        for (const client of clients) {
          Bun.gc(true);
          const keys = Array.from({ length: n }, (_, i) => `${client.name}/${sizeBytes}/${i}`);
          const run =
            op === "PUT"
              ? (key: string) => client.put(key, body)
              : async (key: string) => {
                  const got = await client.get(key);
                  if (got.byteLength !== sizeBytes)
                    throw new Error(`${client.name} GET ${key}: ${got.byteLength} bytes`);
                };
          const { seconds, cpuMs } = await measure(keys, inFlight, run);
          const cpuPerRequestMs = cpuMs / n;
          if (inFlight === 1) cpuAt1.set(`${op} ${sizeBytes} ${client.name}`, cpuPerRequestMs);
          cells.push(`${(n / seconds).toFixed(0)} req/s, ${cpuPerRequestMs.toFixed(2)} ms`);
        }
        rows.push(`| ${op} ${label(sizeBytes)} | ${inFlight} | ${n} | ${cells.join(" | ")} |`);
        console.error(rows[rows.length - 1]);
      }
    }
  }
  const loadEnd = loadavg()[0] ?? 0;
  const ratioRows: string[] = [];
  for (const op of ["PUT", "GET"]) {
    for (const sizeBytes of SIZES_BYTES) {
      const sdk = cpuAt1.get(`${op} ${sizeBytes} aws-sdk`) ?? Number.NaN;
      const cells = clients.map((c) => {
        const v = cpuAt1.get(`${op} ${sizeBytes} ${c.name}`) ?? Number.NaN;
        return `${v.toFixed(2)} ms (${(v / sdk).toFixed(2)}x)`;
      });
      ratioRows.push(`| ${op} ${label(sizeBytes)} | ${cells.join(" | ")} |`);
    }
  }
  const names = clients.map((c) => c.name).join(" | ");
  const date = new Date().toISOString().slice(0, 10);
  const report = [
    `Command: \`bun bench/s3client.ts ${process.argv.slice(2).join(" ")}\` (${date}, 2 cores, Bun ${Bun.version}, load average ${loadStart.toFixed(1)} at start and ${loadEnd.toFixed(1)} at end; s3rver behind the SigV4 gate of test/harness, in a child process; CPU is this process's user + system time over the run divided by its requests).`,
    "",
    "CPU per request, one in flight (ratio to the SDK, same run):",
    "",
    `| request | ${names} |`,
    `| --- | ${clients.map(() => "---").join(" | ")} |`,
    ...ratioRows,
    "",
    "Requests/s and CPU per request by requests in flight (s3rver, a node process, bounds the rate):",
    "",
    `| request | in flight | requests | ${names} |`,
    `| --- | --- | --- | ${clients.map(() => "---").join(" | ")} |`,
    ...rows,
    ...(firstRequestBins === undefined ? [] : ["", await firstRequest(server, firstRequestBins)]),
  ].join("\n");
  console.log(report);
  if (writePath !== undefined) writeSection(writePath, "S3 client", report);
  for (const client of clients) (client as { close?: () => void }).close?.();
} finally {
  child.stdin.end();
  await child.exited;
}

function makeClients(s: Server): Client[] {
  const sdk = new S3Client({
    endpoint: s.endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const bun = new Bun.S3Client({
    endpoint: s.endpoint,
    bucket: BUCKET,
    region: REGION,
    accessKeyId: s.accessKey,
    secretAccessKey: s.secretKey,
  });
  const store = new S3ObjectStore({
    bucketUrl: `${s.endpoint}/${BUCKET}`,
    accessKey: s.accessKey,
    secretKey: s.secretKey,
    region: REGION,
  });
  return [
    {
      name: "aws-sdk",
      put: async (key, body) => {
        await sdk.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: key,
            Body: body,
            ContentLength: body.byteLength,
          }),
        );
      },
      get: async (key) => {
        const out = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        return (await out.Body?.transformToByteArray()) ?? new Uint8Array(0);
      },
      close: () => sdk.destroy(),
    } as Client,
    {
      name: "Bun.S3Client",
      put: async (key, body) => {
        await bun.write(key, body);
      },
      get: (key) => bun.file(key).bytes(),
    },
    {
      name: "S3ObjectStore (fetch+SigV4)",
      put: (k, b) => store.put(k, b),
      get: (k) => store.get(k),
    },
  ];
}

async function measure(
  keys: string[],
  inFlight: number,
  run: (key: string) => Promise<void>,
): Promise<{ seconds: number; cpuMs: number }> {
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < keys.length) {
        const key = keys[next++] as string;
        await run(key);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { seconds, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Process wall time and first PUT latency of `jfs objbench` on one 16 KiB object, medians. */
async function firstRequest(s: Server, bins: string[]): Promise<string> {
  const wallMs = bins.map(() => [] as number[]);
  const putMs = bins.map(() => [] as number[]);
  for (let round = 0; round < FIRST_REQUEST_ROUNDS; round++) {
    for (const [i, bin] of bins.entries()) {
      const bucketUrl = `${s.endpoint}/first${i}`;
      const args = ["objbench", "--storage", "s3", "--bucket", bucketUrl, "--objects", "1"];
      const startMs = performance.now();
      const child = Bun.spawn([bin, ...args, "--threads", "1", "--block-size", "16"], {
        env: { ...process.env, ACCESS_KEY: s.accessKey, SECRET_KEY: s.secretKey },
        stdout: "pipe",
        stderr: "inherit",
      });
      const out = await new Response(child.stdout).text();
      if ((await child.exited) !== 0) throw new Error(`${bin} objbench failed:\n${out}`);
      wallMs[i]?.push(performance.now() - startMs);
      // "put  1  34  0.5  28.39  28.39": p50 is the 5th column.
      const put = /^put\s+\S+\s+\S+\s+\S+\s+([\d.]+)/m.exec(out)?.[1];
      putMs[i]?.push(Number(put));
    }
  }
  const median = (xs: number[]): string =>
    ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN).toFixed(0);
  return [
    `First request in the compiled binary (\`--first-request\`; a fresh \`jfs objbench --objects 1 --block-size 16\` per run, ${FIRST_REQUEST_ROUNDS} runs alternating, medians):`,
    "",
    "| binary | first PUT (ms) | whole process (ms) |",
    "| --- | --- | --- |",
    ...bins.map((bin, i) => `| ${bin} | ${median(putMs[i] ?? [])} | ${median(wallMs[i] ?? [])} |`),
  ].join("\n");
}

function label(sizeBytes: number): string {
  return sizeBytes >= 1024 * 1024 ? `${sizeBytes / 1024 / 1024} MiB` : `${sizeBytes / 1024} KiB`;
}

async function readServer(stream: ReadableStream<Uint8Array>): Promise<Server> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    const line = text.indexOf("\n");
    if (line >= 0) return JSON.parse(text.slice(0, line)) as Server;
  }
  throw new Error(`the S3 server child exited first: ${text}`);
}
