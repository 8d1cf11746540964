/**
 * The forwarding half of the test proxies (SigV4 gate, fault proxy): read a whole request, send
 * it upstream unchanged (Host header included, so signatures still match), read the whole
 * answer. Bodies are buffered; test objects are a few MiB at most.
 */
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  ServerResponse,
} from "node:http";
import { type Agent, request } from "node:http";

export interface Answer {
  statusCode: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

export async function readBody(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function relay(
  target: URL,
  agent: Agent,
  req: IncomingMessage,
  body: Buffer,
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        readBody(answer).then(
          (answerBody) =>
            resolve({
              statusCode: answer.statusCode ?? 502,
              headers: framedHeaders(answer.headers, answerBody),
              body: answerBody,
            }),
          reject,
        );
      },
    );
    upstream.on("error", reject);
    upstream.end(body);
  });
}

/** Answers with the whole buffered body: a chunked upstream answer gets a Content-Length. */
export function send(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.statusCode, answer.headers);
  res.end(answer.body);
}

/** An S3-style XML error answer. */
export function sendError(
  res: ServerResponse,
  statusCode: number,
  code: string,
  message: string,
): void {
  const body = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
  send(res, {
    statusCode,
    headers: { "content-type": "application/xml", "content-length": body.length },
    body,
  });
}

function framedHeaders(headers: IncomingHttpHeaders, body: Buffer): OutgoingHttpHeaders {
  if (headers["transfer-encoding"] === undefined) return { ...headers };
  const { "transfer-encoding": _, ...rest } = headers;
  return { ...rest, "content-length": body.length };
}
