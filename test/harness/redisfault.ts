/**
 * A TCP proxy in front of a real redis-server that can lose replies, to prove what a client does
 * when it cannot know whether a command ran:
 * - dropNextExecReply(): the next EXEC is forwarded and runs on the server, but its reply never
 *   reaches the client: the proxy waits for that reply, then drops the client's connection.
 *   With { thenDown: true } the proxy also goes down at that moment, as if the server had
 *   stopped right after running the EXEC, so that the client's retry cannot get through.
 * - down() / up(): while down, every connection is dropped and new ones are closed at once (an
 *   engine outage without losing the server's data); up() lets clients in again.
 *
 * Both directions are parsed as RESP (commands are arrays of bulk strings; replies any RESP2
 * value), so the proxy knows which reply answers which command even when calls are pipelined.
 *
 *   await using proxy = await startRedisFaultProxy(redis.port);
 *   proxy.dropNextExecReply();
 *   await proxy.execReplyDropped; // the server ran the EXEC
 */
import { createConnection, createServer, type Socket } from "node:net";

export interface RedisFaultProxy {
  port: number;
  /** "redis://127.0.0.1:PORT/DB" through the proxy. */
  url(db?: number): string;
  dropNextExecReply(options?: { thenDown?: boolean }): void;
  /** Resolves when an EXEC armed by dropNextExecReply() ran and its reply was dropped. */
  readonly execReplyDropped: Promise<void>;
  down(): void;
  up(): void;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startRedisFaultProxy(upstreamPort: number): Promise<RedisFaultProxy> {
  const pairs = new Set<Pair>();
  let armed = false;
  let downAfterDrop = false;
  let isDown = false;
  let dropped = Promise.withResolvers<void>();

  const server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: "127.0.0.1", port: upstreamPort });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const close = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);

    // Which reply (counted from 0) answers an EXEC whose reply must be lost.
    const commands = new RespCounter();
    const replies = new RespCounter();
    let dropAt: number | undefined;
    client.on("data", (data: Buffer) => {
      for (const name of commands.feed(data)) {
        if (armed && dropAt === undefined && name === "EXEC") {
          armed = false;
          dropAt = commands.count - 1;
        }
      }
      upstream.write(data);
    });
    upstream.on("data", (data: Buffer) => {
      const before = replies.count;
      replies.feed(data);
      if (dropAt === undefined || replies.count <= dropAt) {
        client.write(data);
        return;
      }
      // Forward the replies before EXEC's (they end at a value boundary), then drop the rest.
      client.write(data.subarray(0, replies.endOf(dropAt - before)));
      if (downAfterDrop) {
        isDown = true;
        dropAll();
      }
      dropped.resolve();
      close();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("proxy has no port");

  const dropAll = (): void => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    dropAll();
    await closed;
  };
  return {
    port: address.port,
    url: (db = 0) => `redis://127.0.0.1:${address.port}/${db}`,
    dropNextExecReply: (options = {}) => {
      armed = true;
      downAfterDrop = options.thenDown === true;
      dropped = Promise.withResolvers<void>();
    },
    get execReplyDropped() {
      return dropped.promise;
    },
    down: () => {
      isDown = true;
      dropAll();
    },
    up: () => {
      isDown = false;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * Counts complete top-level RESP values in a byte stream. feed() returns, for each value that
 * ended in this piece, its first element when it is an array of bulk strings (a command name,
 * upper-cased), else "". endOf(i) is the offset in the last piece just past its i-th value.
 */
class RespCounter {
  count = 0;
  #buffer = Buffer.alloc(0);
  #ends: number[] = [];

  feed(data: Buffer): string[] {
    const carried = this.#buffer.length;
    this.#buffer = Buffer.concat([this.#buffer, data]);
    this.#ends = [];
    const names: string[] = [];
    let at = 0;
    for (;;) {
      const parsed = parseValue(this.#buffer, at);
      if (parsed === undefined) break;
      names.push(parsed.name);
      at = parsed.end;
      this.#ends.push(at - carried);
      this.count++;
    }
    this.#buffer = this.#buffer.subarray(at);
    return names;
  }

  endOf(index: number): number {
    return index <= 0 ? 0 : (this.#ends[index - 1] ?? 0);
  }
}

/** One RESP2 value at `at`: its end, and a command name if it is an array of bulks. */
function parseValue(b: Buffer, at: number): { end: number; name: string } | undefined {
  // An explicit stack of "values still to read", so nested arrays need no recursion.
  let pending = 1;
  let name = "";
  let top = true;
  while (pending > 0) {
    const eol = b.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const kind = String.fromCharCode(b[at]!);
    const n = Number(b.toString("latin1", at + 1, eol));
    at = eol + 2;
    pending--;
    if (kind === "*") {
      if (n > 0) pending += n;
      if (!top) continue;
      top = false;
      const first = b.indexOf("\r\n", at);
      if (first < 0 || b[at] !== 0x24) continue; // not a bulk string: not a command
      const len = Number(b.toString("latin1", at + 1, first));
      if (b.length >= first + 2 + len) {
        name = b.toString("latin1", first + 2, first + 2 + len).toUpperCase();
      }
      continue;
    }
    top = false;
    if (kind === "$" && n >= 0) {
      if (b.length < at + n + 2) return undefined;
      at += n + 2;
    }
  }
  return { end: at, name };
}
