/**
 * S3 errors: a code, an HTTP status and a message, rendered as S3's <Error> XML (xml.ts). Every
 * failure a request can meet becomes one of these, so a client always gets one S3 error.
 */
import { FsError } from "../errors.ts";
import { Errno } from "../posix.ts";

export class S3Error extends Error {
  override name = "S3Error";
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const s3Errors = {
  accessDenied: (why = "Access Denied") => new S3Error("AccessDenied", 403, why),
  badDigest: () =>
    new S3Error("BadDigest", 400, "The Content-MD5 you specified did not match what we received"),
  bucketExists: () =>
    new S3Error(
      "BucketAlreadyOwnedByYou",
      409,
      "Your previous request to create the named bucket succeeded and you already own it",
    ),
  bucketNotEmpty: () =>
    new S3Error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty"),
  invalidAccessKeyId: () =>
    new S3Error(
      "InvalidAccessKeyId",
      403,
      "The AWS Access Key Id you provided does not exist in our records",
    ),
  invalidArgument: (why: string) => new S3Error("InvalidArgument", 400, why),
  invalidBucketName: () =>
    new S3Error("InvalidBucketName", 400, "The specified bucket is not valid"),
  invalidRange: () => new S3Error("InvalidRange", 416, "The requested range is not satisfiable"),
  invalidRequest: (why: string) => new S3Error("InvalidRequest", 400, why),
  keyTooLong: () => new S3Error("KeyTooLongError", 400, "Your key is too long"),
  malformedXml: () =>
    new S3Error(
      "MalformedXML",
      400,
      "The XML you provided was not well-formed or did not validate against our published schema",
    ),
  malformedAuth: (why: string) => new S3Error("AuthorizationHeaderMalformed", 400, why),
  methodNotAllowed: () =>
    new S3Error(
      "MethodNotAllowed",
      405,
      "The specified method is not allowed against this resource",
    ),
  missingAuth: () =>
    new S3Error("AccessDenied", 403, "Anonymous access is refused: sign the request (SigV4)"),
  noSuchBucket: () => new S3Error("NoSuchBucket", 404, "The specified bucket does not exist"),
  noSuchKey: () => new S3Error("NoSuchKey", 404, "The specified key does not exist."),
  notImplemented: (what: string) =>
    new S3Error("NotImplemented", 501, `${what} is not implemented`),
  preconditionFailed: () =>
    new S3Error(
      "PreconditionFailed",
      412,
      "At least one of the pre-conditions you specified did not hold",
    ),
  sha256Mismatch: () =>
    new S3Error(
      "XAmzContentSHA256Mismatch",
      400,
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
  signatureMismatch: () =>
    new S3Error(
      "SignatureDoesNotMatch",
      403,
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    ),
  tooSkewed: () =>
    new S3Error(
      "RequestTimeTooSkewed",
      403,
      "The difference between the request time and the server's time is too large.",
    ),
  incompleteBody: () =>
    new S3Error(
      "IncompleteBody",
      400,
      "You did not provide the number of bytes specified by the Content-Length HTTP header",
    ),
  internal: () =>
    new S3Error("InternalError", 500, "We encountered an internal error. Please try again."),
};

/** What a VFS errno means to an S3 client (the caller maps ENOENT itself: key or bucket). */
export function s3ErrorOf(error: unknown): S3Error {
  if (error instanceof S3Error) return error;
  if (!(error instanceof FsError)) return s3Errors.internal();
  switch (error.errno) {
    case Errno.ENOENT:
    case Errno.ENOTDIR:
    case Errno.EISDIR:
      return s3Errors.noSuchKey();
    case Errno.ENAMETOOLONG:
      return s3Errors.keyTooLong();
    case Errno.EACCES:
    case Errno.EPERM:
    case Errno.EROFS:
      return s3Errors.accessDenied();
    case Errno.ENOTEMPTY:
      return s3Errors.bucketNotEmpty();
    case Errno.ENOSPC:
      return new S3Error("QuotaExceeded", 403, "The volume is out of space or over its quota");
    case Errno.EDQUOT:
      // A directory quota (jfs quota) of the bucket or a prefix in it: MinIO's answer to a
      // write past a bucket quota, which S3 clients that know MinIO already recognise.
      return new S3Error("XMinioAdminBucketQuotaExceeded", 400, "Directory quota exceeded");
    case Errno.EEXIST:
      return new S3Error(
        "InvalidRequest",
        409,
        "A key conflicts with an existing prefix or object",
      );
    default:
      return s3Errors.internal();
  }
}
