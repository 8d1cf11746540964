/**
 * The S3 operation a request is, by AWS's names (GetObject, PutObject, ListObjectsV2, ...), for
 * the gateway's metrics. Read from the method, the path and the sub-resources only, before the
 * router runs, so a refused request is counted under what it asked for.
 */
export function s3OpName(
  method: string,
  bucket: string | undefined,
  key: string | undefined,
  query: ReadonlyMap<string, string>,
  headers: Headers,
): string {
  if (bucket === undefined) return method === "GET" ? "ListBuckets" : "Other";
  if (key === undefined) return bucketOpName(method, query);
  if (query.has("uploadId")) {
    if (method === "PUT") return headers.has("x-amz-copy-source") ? "UploadPartCopy" : "UploadPart";
    if (method === "POST") return "CompleteMultipartUpload";
    if (method === "DELETE") return "AbortMultipartUpload";
    return "ListParts";
  }
  if (query.has("uploads")) return "CreateMultipartUpload";
  switch (method) {
    case "GET":
      return "GetObject";
    case "HEAD":
      return "HeadObject";
    case "PUT":
      return headers.has("x-amz-copy-source") ? "CopyObject" : "PutObject";
    case "DELETE":
      return "DeleteObject";
    default:
      return "Other";
  }
}

function bucketOpName(method: string, query: ReadonlyMap<string, string>): string {
  if (method === "GET") {
    if (query.has("uploads")) return "ListMultipartUploads";
    if (query.has("location")) return "GetBucketLocation";
    return query.get("list-type") === "2" ? "ListObjectsV2" : "ListObjects";
  }
  if (method === "POST" && query.has("delete")) return "DeleteObjects";
  if (method === "HEAD") return "HeadBucket";
  if (method === "PUT") return "CreateBucket";
  if (method === "DELETE") return "DeleteBucket";
  return "Other";
}
