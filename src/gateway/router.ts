/**
 * One S3 request, authenticated, to one operation: path-style addressing (/BUCKET/KEY), the
 * operation chosen by method, sub-resource and headers, as S3 does. Replies and errors are
 * rendered here; the work is the namespace's, the objects' and the listing's.
 */
import {
  GATEWAY_DELETE_KEYS_MAX,
  GATEWAY_LIST_KEYS_MAX,
  GATEWAY_PARTS_MAX,
  GATEWAY_WHOLE_GET_BYTES_MAX,
  GATEWAY_XML_BODY_BYTES_MAX,
} from "../limits.ts";
import { FileType } from "../posix.ts";
import { checkConditions, checkCopyConditions, objectHeaders, rangeOf } from "./conditions.ts";
import { s3ErrorOf, s3Errors } from "./errors.ts";
import { listObjects } from "./listing.ts";
import { Multipart, partNumberOf } from "./multipart.ts";
import { keyParts, type Namespace } from "./namespace.ts";
import { metaOfHeaders, type Objects } from "./objects.ts";
import { payloadOf, readSmallBody } from "./payload.ts";
import { queryPairs, uriDecode, uriEncode, type Verified } from "./sigv4.ts";
import { parseCompleteRequest, parseDeleteRequest, renderDocument, type XmlNode } from "./xml.ts";

export interface S3Request {
  method: string;
  bucket: string | undefined;
  key: string | undefined;
  query: Map<string, string>;
  headers: Headers;
  body: AsyncIterable<Uint8Array>;
  verified: Verified;
}

const OWNER = { ID: "jfs", DisplayName: "jfs" };

/** Splits a raw path into bucket and key (both decoded); throws for undecodable paths. */
export function parsePath(rawPath: string): { bucket?: string; key?: string } {
  const path = rawPath.replace(/^\/+/, "");
  if (path === "") return {};
  const slash = path.indexOf("/");
  if (slash < 0) return { bucket: uriDecode(path) };
  const bucket = uriDecode(path.slice(0, slash));
  const key = uriDecode(path.slice(slash + 1));
  return key === "" ? { bucket } : { bucket, key };
}

export function queryOf(rawQuery: string): Map<string, string> {
  return new Map(queryPairs(rawQuery));
}

const xmlReply = (root: string, body: XmlNode, status = 200) =>
  new Response(renderDocument(root, body), {
    status,
    headers: { "content-type": "application/xml" },
  });

function maxKeysOf(query: Map<string, string>): number {
  const text = query.get("max-keys");
  if (text === undefined) return GATEWAY_LIST_KEYS_MAX;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw s3Errors.invalidArgument("max-keys must be a non-negative integer");
  }
  return Math.min(n, GATEWAY_LIST_KEYS_MAX);
}

export class Router {
  readonly multipart: Multipart;
  constructor(
    readonly ns: Namespace,
    readonly objects: Objects,
  ) {
    this.multipart = new Multipart(ns, objects);
  }

  async handle(r: S3Request): Promise<Response> {
    const { method, bucket, key, query } = r;
    if (bucket === undefined) {
      if (method === "GET") return this.#listBuckets();
      throw s3Errors.methodNotAllowed();
    }
    if (key === undefined) return this.#bucketOp(r, bucket);
    if (query.has("uploads") || query.has("uploadId")) return this.#multipart(r, bucket, key);
    for (const sub of [
      "acl",
      "tagging",
      "retention",
      "legal-hold",
      "torrent",
      "restore",
      "attributes",
    ]) {
      if (query.has(sub)) throw s3Errors.notImplemented(`The ${sub} sub-resource`);
    }
    switch (method) {
      case "GET":
      case "HEAD":
        return this.#get(r, bucket, key, method === "HEAD");
      case "PUT":
        return r.headers.has("x-amz-copy-source")
          ? this.#copy(r, bucket, key)
          : this.#put(r, bucket, key);
      case "DELETE":
        await this.objects.delete(bucket, key);
        return new Response(null, { status: 204 });
      default:
        throw s3Errors.methodNotAllowed();
    }
  }

  async #multipart(r: S3Request, bucket: string, key: string): Promise<Response> {
    const { method, query } = r;
    const id = query.get("uploadId");
    if (method === "POST" && query.has("uploads")) {
      const uploadId = await this.multipart.create(bucket, key, metaOfHeaders(r.headers));
      return xmlReply("InitiateMultipartUploadResult", {
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
      });
    }
    if (method === "PUT") {
      if (r.headers.has("x-amz-copy-source")) throw s3Errors.notImplemented("UploadPartCopy");
      const n = partNumberOf(query.get("partNumber"));
      const body = payloadOf(r.body, r.verified, r.headers);
      const md5 = r.headers.get("content-md5") ?? undefined;
      const info = await this.multipart.uploadPart(bucket, key, id, n, body, md5);
      return new Response(null, { status: 200, headers: { etag: info.etag } });
    }
    if (method === "POST") {
      const body = await readSmallBody(r.body, r.verified, r.headers, GATEWAY_XML_BODY_BYTES_MAX);
      const parts = parseCompleteRequest(body.toString("utf8"));
      if (parts === undefined) throw s3Errors.malformedXml();
      const info = await this.multipart.complete(bucket, key, id, parts);
      return xmlReply("CompleteMultipartUploadResult", {
        Location: `/${bucket}/${key}`,
        Bucket: bucket,
        Key: key,
        ETag: info.etag,
      });
    }
    if (method === "DELETE") {
      await this.multipart.abort(bucket, key, id);
      return new Response(null, { status: 204 });
    }
    if (method === "GET") {
      const parts = await this.multipart.parts(bucket, key, id);
      return xmlReply("ListPartsResult", {
        Bucket: bucket,
        Key: key,
        UploadId: id,
        Initiator: OWNER,
        Owner: OWNER,
        StorageClass: "STANDARD",
        PartNumberMarker: 0,
        NextPartNumberMarker: parts[parts.length - 1]?.number ?? 0,
        MaxParts: GATEWAY_PARTS_MAX,
        IsTruncated: false,
        Part: parts.map((p) => ({
          PartNumber: p.number,
          LastModified: p.lastModified.toISOString(),
          ETag: p.etag,
          Size: p.size,
        })),
      });
    }
    throw s3Errors.methodNotAllowed();
  }

  async #listUploads(r: S3Request, bucket: string): Promise<Response> {
    const prefix = r.query.get("prefix") ?? "";
    const uploads = await this.multipart.uploads(bucket, prefix);
    return xmlReply("ListMultipartUploadsResult", {
      Bucket: bucket,
      KeyMarker: "",
      UploadIdMarker: "",
      Prefix: prefix,
      MaxUploads: GATEWAY_LIST_KEYS_MAX,
      IsTruncated: false,
      Upload: uploads.map((u) => ({
        Key: u.key,
        UploadId: u.id,
        Initiator: OWNER,
        Owner: OWNER,
        StorageClass: "STANDARD",
        Initiated: u.initiated.toISOString(),
      })),
    });
  }

  async #listBuckets(): Promise<Response> {
    const buckets = await this.ns.buckets();
    return xmlReply("ListAllMyBucketsResult", {
      Owner: OWNER,
      Buckets: {
        Bucket: buckets.map((b) => ({
          Name: b.name,
          CreationDate: new Date(b.ctime * 1000).toISOString(),
        })),
      },
    });
  }

  async #bucketOp(r: S3Request, bucket: string): Promise<Response> {
    const { method, query } = r;
    if (method === "PUT" && query.size === 0) {
      await this.ns.createBucket(bucket);
      return new Response(null, { status: 200, headers: { location: `/${bucket}` } });
    }
    if (method === "DELETE" && query.size === 0) {
      await this.ns.deleteBucket(bucket);
      return new Response(null, { status: 204 });
    }
    if (method === "HEAD") {
      await this.ns.bucket(bucket);
      return new Response(null, { status: 200 });
    }
    if (method === "POST" && query.has("delete")) return this.#deleteObjects(r, bucket);
    if (method === "GET" && query.has("uploads")) return this.#listUploads(r, bucket);
    if (method === "GET" && query.has("versioning")) {
      // Never versioned (rclone and others ask before they sync).
      await this.ns.bucket(bucket);
      return xmlReply("VersioningConfiguration", {});
    }
    if (method === "GET" && query.has("location")) {
      await this.ns.bucket(bucket);
      return xmlReply("LocationConstraint", {});
    }
    if (method === "GET") {
      const known = [
        "list-type",
        "prefix",
        "delimiter",
        "continuation-token",
        "start-after",
        "max-keys",
        "marker",
        "encoding-type",
        "fetch-owner",
      ];
      const unknown = [...query.keys()].find(
        (k) => !known.includes(k) && !k.startsWith("x-amz-") && !k.startsWith("X-Amz-"),
      );
      if (unknown !== undefined) throw s3Errors.notImplemented(`The ${unknown} sub-resource`);
      return this.#list(r, bucket, query.get("list-type") === "2");
    }
    throw s3Errors.methodNotAllowed();
  }

  async #list(r: S3Request, bucket: string, v2: boolean): Promise<Response> {
    const { query } = r;
    const bucketIno = await this.ns.bucket(bucket);
    const prefix = query.get("prefix") ?? "";
    const delimiter = query.get("delimiter") ?? "";
    const maxKeys = maxKeysOf(query);
    const urlEncoded = query.get("encoding-type") === "url";
    if (query.has("encoding-type") && !urlEncoded) {
      throw s3Errors.invalidArgument("Invalid Encoding Method specified in Request");
    }
    const token = query.get("continuation-token");
    let after: string;
    if (v2) {
      if (token !== undefined) {
        after = Buffer.from(token, "base64url").toString("utf8");
        if (token === "" || Buffer.from(after).toString("base64url") !== token) {
          throw s3Errors.invalidArgument("The continuation token provided is incorrect");
        }
      } else after = query.get("start-after") ?? "";
    } else after = query.get("marker") ?? "";
    const result = await listObjects(this.ns, bucketIno, { prefix, delimiter, after, maxKeys });
    const enc = (text: string) => (urlEncoded ? uriEncode(text, true) : text);
    const withOwner = !v2 || query.get("fetch-owner") === "true";
    const contents: XmlNode[] = [];
    for (const o of result.objects) {
      const attr = await this.ns.vfs.getattr(this.ns.ctx, o.ino);
      const info = await this.objects.infoOf(o.ino, attr);
      contents.push({
        Key: enc(o.key),
        LastModified: info.lastModified.toISOString(),
        ETag: info.etag,
        Size: attr.size,
        StorageClass: "STANDARD",
        ...(withOwner && { Owner: OWNER }),
      });
    }
    const common = { Name: bucket, Prefix: enc(prefix) };
    const tail = {
      MaxKeys: maxKeys,
      Delimiter: delimiter === "" ? undefined : enc(delimiter),
      EncodingType: urlEncoded ? "url" : undefined,
      IsTruncated: result.truncated,
      Contents: contents,
      CommonPrefixes: result.prefixes.map((p) => ({ Prefix: enc(p) })),
    };
    const next = result.truncated ? result.last : undefined;
    if (v2) {
      return xmlReply("ListBucketResult", {
        ...common,
        StartAfter: query.has("start-after") ? enc(query.get("start-after")!) : undefined,
        ContinuationToken: token,
        NextContinuationToken:
          next === undefined ? undefined : Buffer.from(next).toString("base64url"),
        KeyCount: contents.length + result.prefixes.length,
        ...tail,
      });
    }
    return xmlReply("ListBucketResult", {
      ...common,
      Marker: enc(after),
      NextMarker: next === undefined ? undefined : enc(next),
      ...tail,
    });
  }

  async #deleteObjects(r: S3Request, bucket: string): Promise<Response> {
    await this.ns.bucket(bucket);
    const body = await readSmallBody(r.body, r.verified, r.headers, GATEWAY_XML_BODY_BYTES_MAX);
    const request = parseDeleteRequest(body.toString("utf8"));
    if (request === undefined) throw s3Errors.malformedXml();
    if (request.keys.length > GATEWAY_DELETE_KEYS_MAX) throw s3Errors.malformedXml();
    const deleted: XmlNode[] = [];
    const errors: XmlNode[] = [];
    for (const key of request.keys) {
      try {
        await this.objects.delete(bucket, key);
        if (!request.quiet) deleted.push({ Key: key });
      } catch (error) {
        const e = s3ErrorOf(error);
        errors.push({ Key: key, Code: e.code, Message: e.message });
      }
    }
    return xmlReply("DeleteResult", { Deleted: deleted, Error: errors });
  }

  async #get(r: S3Request, bucket: string, key: string, head: boolean): Promise<Response> {
    const info = await this.objects.info(bucket, key);
    const conditional = checkConditions(r.headers, info);
    if (conditional !== undefined) return conditional;
    const size = info.attr.type === FileType.File ? info.attr.size : 0;
    const headers = objectHeaders(info);
    const range = rangeOf(r.headers.get("range"), size);
    const [start, end] = range ?? [0, size];
    headers.set("content-length", String(end - start));
    if (range !== undefined) headers.set("content-range", `bytes ${start}-${end - 1}/${size}`);
    const status = range === undefined ? 200 : 206;
    if (head || end === start) return new Response(head ? null : "", { status, headers });
    const stream = await this.objects.stream(info.ino, start, end);
    if (end - start > GATEWAY_WHOLE_GET_BYTES_MAX) return new Response(stream, { status, headers });
    // Bun.serve drops the Content-Length of a streamed body and sends it chunked
    // (oven-sh/bun#10507); S3 clients want the length, so all but huge replies are read first.
    return new Response(await new Response(stream).arrayBuffer(), { status, headers });
  }

  async #put(r: S3Request, bucket: string, key: string): Promise<Response> {
    const md5 = r.headers.get("content-md5") ?? undefined;
    const body = payloadOf(r.body, r.verified, r.headers);
    const checks = md5 === undefined ? {} : { contentMd5: md5 };
    const info = await this.objects.put(bucket, key, body, metaOfHeaders(r.headers), checks);
    return new Response(null, { status: 200, headers: { etag: info.etag } });
  }

  async #copy(r: S3Request, bucket: string, key: string): Promise<Response> {
    const source = r.headers.get("x-amz-copy-source")!;
    const path = uriDecode(source.split("?")[0]!).replace(/^\/+/, "");
    const slash = path.indexOf("/");
    if (slash <= 0 || slash === path.length - 1) {
      throw s3Errors.invalidArgument("x-amz-copy-source must be BUCKET/KEY");
    }
    const [srcBucket, srcKey] = [path.slice(0, slash), path.slice(slash + 1)];
    keyParts(srcKey);
    const src = await this.objects.info(srcBucket, srcKey);
    if (src.attr.type !== FileType.File) throw s3Errors.noSuchKey();
    const conditional = checkCopyConditions(r.headers, src);
    if (conditional !== undefined) throw conditional;
    const replace = r.headers.get("x-amz-metadata-directive") === "REPLACE";
    if (!replace && srcBucket === bucket && srcKey === key) {
      throw s3Errors.invalidRequest(
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata",
      );
    }
    const meta = replace
      ? metaOfHeaders(r.headers)
      : { contentType: src.contentType, userMeta: src.userMeta };
    const copied = await this.objects.put(
      bucket,
      key,
      this.objects.bytesOf(src.ino, src.attr.size),
      meta,
    );
    return xmlReply("CopyObjectResult", {
      LastModified: copied.lastModified.toISOString(),
      ETag: copied.etag,
    });
  }
}
