/**
 * The gateway with Debian's aws CLI, python3-boto3 and rclone as clients (test/run.sh installs
 * them): put, get (a multipart upload of 64 MiB too), list with a delimiter and pagination (2,500
 * keys in pages of 1,000 too), copy,
 * delete, a presigned GET, rclone sync and check of a tree, and a wrong
 * key and a bad signature refused with one S3 error each and nothing written. They run under
 * a clean environment: no AWS_CA_BUNDLE (which this machine sets and which breaks them), no
 * user config.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { OpenFlags, ROOT_CREDENTIALS } from "../../src/posix.ts";
import { ACCESS_KEY, SECRET_KEY, startTestGateway, type TestGateway } from "./harness.ts";

/** Each aws CLI run starts Python and botocore: about a second each. */
const CLI_TEST_TIMEOUT_MS = 60_000;

let gw: TestGateway;
let home: string;

beforeAll(async () => {
  gw = await startTestGateway();
  home = mkdtempSync(join(tmpdir(), "jfs-gw-clients-"));
});

afterAll(async () => {
  await gw?.close();
  rmSync(home, { recursive: true, force: true });
});

function clientEnv(keys = { id: ACCESS_KEY, secret: SECRET_KEY }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("AWS_")) env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    AWS_ACCESS_KEY_ID: keys.id,
    AWS_SECRET_ACCESS_KEY: keys.secret,
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_CONFIG_FILE: join(home, "none"),
    AWS_SHARED_CREDENTIALS_FILE: join(home, "none"),
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_PAGER: "",
  };
}

async function run(argv: string[], env = clientEnv()) {
  const proc = Bun.spawn(argv, { env, cwd: home, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

const aws = (args: string[], env?: Record<string, string>) =>
  run(["/usr/bin/aws", "--endpoint-url", gw.endpoint, ...args], env);

async function keysIn(bucket: string, prefix = ""): Promise<string[]> {
  const out = await gw.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key!);
}

describe("gateway with the aws CLI", () => {
  test(
    "mb, cp up and down, ls with delimiter, paginated listing, rm",
    async () => {
      expect((await aws(["s3", "mb", "s3://cli-bucket"])).code).toBe(0);
      const file = join(home, "up.txt");
      writeFileSync(file, "from the aws cli\n");
      const up = await aws(["s3", "cp", file, "s3://cli-bucket/dir/up.txt"]);
      expect(up.stderr).toBe("");
      expect(up.code).toBe(0);
      const ls = await aws(["s3", "ls", "s3://cli-bucket/"]);
      expect(ls.stdout.trim()).toMatch(/^PRE dir\/$/);
      const down = join(home, "down.txt");
      expect((await aws(["s3", "cp", "s3://cli-bucket/dir/up.txt", down])).code).toBe(0);
      expect(readFileSync(down, "utf8")).toBe("from the aws cli\n");
      for (let i = 0; i < 12; i++) {
        writeFileSync(join(home, `f${i}`), String(i));
      }
      const sync = await aws([
        "s3",
        "cp",
        home,
        "s3://cli-bucket/many/",
        "--recursive",
        "--exclude",
        "*",
        "--include",
        "f*",
      ]);
      expect(sync.code).toBe(0);
      const listed = await aws([
        "s3api",
        "list-objects-v2",
        "--bucket",
        "cli-bucket",
        "--prefix",
        "many/",
        "--page-size",
        "5",
      ]);
      expect(listed.code).toBe(0);
      const keys = (JSON.parse(listed.stdout) as { Contents: { Key: string }[] }).Contents.map(
        (c) => c.Key,
      );
      expect(keys).toEqual(Array.from({ length: 12 }, (_, i) => `many/f${i}`).sort());
      expect((await aws(["s3", "rm", "s3://cli-bucket/many/", "--recursive"])).code).toBe(0);
      expect(await keysIn("cli-bucket")).toEqual(["dir/up.txt"]);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  test(
    "aws s3 sync of a tree up and back: the same files; a second sync sends nothing",
    async () => {
      const tree = join(home, "tree");
      const files = ["a.txt", "sub/b.bin", "sub/deeper/c d.txt", "sub/deeper/ü.txt"];
      for (const [i, f] of files.entries()) {
        mkdirSync(dirname(join(tree, f)), { recursive: true });
        writeFileSync(join(tree, f), `file ${i} `.repeat(1000 * (i + 1)));
      }
      const up = await aws(["s3", "sync", tree, "s3://cli-bucket/tree/"]);
      expect(up.code).toBe(0);
      const again = await aws(["s3", "sync", tree, "s3://cli-bucket/tree/"]);
      expect([again.code, again.stdout]).toEqual([0, ""]);
      const back = join(home, "back");
      expect((await aws(["s3", "sync", "s3://cli-bucket/tree/", back])).code).toBe(0);
      for (const f of files)
        expect(readFileSync(join(back, f)).equals(readFileSync(join(tree, f)))).toBe(true);
      expect((await aws(["s3", "rm", "s3://cli-bucket/tree/", "--recursive"])).code).toBe(0);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  test(
    "a 64 MiB file: uploaded in multipart, downloaded the same",
    async () => {
      const big = Buffer.alloc(64 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 512) big.writeUInt32LE(i, i);
      const file = join(home, "big.bin");
      writeFileSync(file, big);
      const up = await aws(["s3", "cp", file, "s3://cli-bucket/big.bin"]);
      expect(up.code).toBe(0);
      const head = await aws([
        "s3api",
        "head-object",
        "--bucket",
        "cli-bucket",
        "--key",
        "big.bin",
      ]);
      // The aws CLI's default 8 MiB parts: eight of them.
      expect(JSON.parse(head.stdout).ETag).toMatch(/^"[0-9a-f]{32}-8"$/);
      const down = join(home, "big.down");
      expect((await aws(["s3", "cp", "s3://cli-bucket/big.bin", down])).code).toBe(0);
      expect(readFileSync(down).equals(big)).toBe(true);
      expect((await aws(["s3", "rm", "s3://cli-bucket/big.bin"])).code).toBe(0);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  test(
    "a wrong key and a bad signature: one S3 error each, nothing written",
    async () => {
      const file = join(home, "evil.txt");
      writeFileSync(file, "evil");
      const wrongKey = await aws(
        ["s3", "cp", file, "s3://cli-bucket/evil1"],
        clientEnv({ id: "nobody", secret: SECRET_KEY }),
      );
      expect(wrongKey.code).not.toBe(0);
      expect(wrongKey.stderr).toContain("InvalidAccessKeyId");
      const badSig = await aws(
        ["s3", "cp", file, "s3://cli-bucket/evil2"],
        clientEnv({ id: ACCESS_KEY, secret: "wrong-secret" }),
      );
      expect(badSig.code).not.toBe(0);
      expect(badSig.stderr).toContain("SignatureDoesNotMatch");
      expect(await keysIn("cli-bucket", "evil")).toEqual([]);
    },
    CLI_TEST_TIMEOUT_MS,
  );
});

const BOTO3 = `
import json, sys, urllib.request
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, secret = sys.argv[1], sys.argv[2]
def client(key_id, key):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id,
        aws_secret_access_key=key, region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
            retries={"max_attempts": 1}))
s3 = client("${ACCESS_KEY}", secret)
out = {}
s3.create_bucket(Bucket="boto-bucket")
r = s3.put_object(Bucket="boto-bucket", Key="docs/a.txt", Body=b"boto3 body",
    ContentType="text/plain", Metadata={"who": "boto"})
out["etag"] = r["ETag"]
g = s3.get_object(Bucket="boto-bucket", Key="docs/a.txt")
out["get"] = [g["Body"].read().decode(), g["ContentType"], g["Metadata"]]
out["range"] = s3.get_object(Bucket="boto-bucket", Key="docs/a.txt", Range="bytes=0-4")["Body"].read().decode()
for i in range(30):
    s3.put_object(Bucket="boto-bucket", Key="page/k%02d" % i, Body=b"x")
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="boto-bucket", Prefix="page/",
    PaginationConfig={"PageSize": 7})
counts, keys = [], []
for p in pages:
    counts.append(p["KeyCount"])
    keys += [c["Key"] for c in p.get("Contents", [])]
out["pages"], out["keys"] = counts, keys
top = s3.list_objects_v2(Bucket="boto-bucket", Delimiter="/")
out["prefixes"] = [p["Prefix"] for p in top.get("CommonPrefixes", [])]
v1 = s3.get_paginator("list_objects").paginate(Bucket="boto-bucket", Prefix="page/",
    PaginationConfig={"PageSize": 11})
out["v1"] = sum(len(p.get("Contents", [])) for p in v1)
s3.copy_object(Bucket="boto-bucket", Key="docs/b.txt", CopySource={"Bucket": "boto-bucket", "Key": "docs/a.txt"})
out["copy"] = s3.get_object(Bucket="boto-bucket", Key="docs/b.txt")["Body"].read().decode()
url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto-bucket", "Key": "docs/a.txt"}, ExpiresIn=300)
out["presigned"] = urllib.request.urlopen(url).read().decode()
try:
    urllib.request.urlopen(url.replace("Signature=", "Signature=0"))
    out["tampered"] = "ok"
except urllib.error.HTTPError as e:
    out["tampered"] = e.code
d = s3.delete_objects(Bucket="boto-bucket", Delete={"Objects": [{"Key": "page/k%02d" % i} for i in range(30)]})
out["deleted"] = len(d.get("Deleted", []))
try:
    client("${ACCESS_KEY}", "wrong-secret").put_object(Bucket="boto-bucket", Key="evil", Body=b"x")
    out["bad"] = "ok"
except ClientError as e:
    out["bad"] = e.response["Error"]["Code"]
try:
    s3.head_object(Bucket="boto-bucket", Key="evil")
    out["evil"] = "exists"
except ClientError as e:
    out["evil"] = e.response["Error"]["Code"]
odd = "odd dir/grüße + 100%.txt"
s3.put_object(Bucket="boto-bucket", Key=odd, Body=b"odd")
out["odd"] = [c["Key"] for c in s3.list_objects_v2(Bucket="boto-bucket", Prefix="odd ").get("Contents", [])]
out["oddPrefixes"] = [p["Prefix"] for p in s3.list_objects_v2(Bucket="boto-bucket", Delimiter="/").get("CommonPrefixes", [])]
s3.delete_object(Bucket="boto-bucket", Key=odd)
out["left"] = sorted(c["Key"] for c in s3.list_objects_v2(Bucket="boto-bucket").get("Contents", []))
print(json.dumps(out, ensure_ascii=False))
`;

describe("gateway with boto3", () => {
  test(
    "put, get, range, paginated lists, copy, presigned GET, deletes, a bad signature",
    async () => {
      const script = join(home, "boto.py");
      writeFileSync(script, BOTO3);
      const r = await run(["/usr/bin/python3", script, gw.endpoint, SECRET_KEY]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.etag).toBe('"615337c3cab011eac6c5c4ab8190d6e1"');
      expect(out.get).toEqual(["boto3 body", "text/plain", { who: "boto" }]);
      expect(out.range).toBe("boto3");
      expect(out.pages).toEqual([7, 7, 7, 7, 2]);
      expect(out.keys).toEqual(
        Array.from({ length: 30 }, (_, i) => `page/k${String(i).padStart(2, "0")}`),
      );
      expect(out.prefixes).toEqual(["docs/", "page/"]);
      expect(out.v1).toBe(30);
      expect(out.copy).toBe("boto3 body");
      expect(out.presigned).toBe("boto3 body");
      expect(out.tampered).toBe(403);
      expect(out.deleted).toBe(30);
      expect(out.bad).toBe("SignatureDoesNotMatch");
      expect(out.evil).toBe("404");
      expect(out.odd).toEqual(["odd dir/grüße + 100%.txt"]);
      expect(out.oddPrefixes).toEqual(["docs/", "odd dir/"]);
      expect(out.left).toEqual(["docs/a.txt", "docs/b.txt"]);
    },
    CLI_TEST_TIMEOUT_MS,
  );
});

describe("boto3 over a large prefix", () => {
  test(
    "2,500 keys listed in pages of 1,000, V2 and V1, in order",
    async () => {
      // The files are made through the VFS (fast); the listing is the gateway's.
      const vfs = gw.runtime.vfs;
      const bucket = await vfs.mkdir(ROOT_CREDENTIALS, 1, Buffer.from("bulk-bucket"), 0o755, 0o022);
      const dir = await vfs.mkdir(ROOT_CREDENTIALS, bucket.inode, Buffer.from("k"), 0o755, 0o022);
      const names = Array.from({ length: 2500 }, (_, i) => `f${String(i).padStart(5, "0")}`);
      for (const name of names) {
        const c = await vfs.create(
          ROOT_CREDENTIALS,
          dir.inode,
          Buffer.from(name),
          0o644,
          0o022,
          OpenFlags.WRONLY,
        );
        await vfs.release(ROOT_CREDENTIALS, c.inode, c.fh);
      }
      const script = join(home, "bulk.py");
      writeFileSync(
        script,
        `
import json, sys
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="${ACCESS_KEY}",
    aws_secret_access_key=sys.argv[2], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
out = {}
for name in ["list_objects_v2", "list_objects"]:
    counts, keys = [], []
    for page in s3.get_paginator(name).paginate(Bucket="bulk-bucket", Prefix="k/"):
        counts.append(len(page.get("Contents", [])))
        keys += [c["Key"] for c in page.get("Contents", [])]
    out[name] = [counts, keys]
print(json.dumps(out))
`,
      );
      const r = await run(["/usr/bin/python3", script, gw.endpoint, SECRET_KEY]);
      expect(r.stderr).toBe("");
      const out = JSON.parse(r.stdout);
      const keys = names.map((n) => `k/${n}`);
      expect(out.list_objects_v2).toEqual([[1000, 1000, 500], keys]);
      expect(out.list_objects).toEqual([[1000, 1000, 500], keys]);
    },
    CLI_TEST_TIMEOUT_MS,
  );
});

/** rclone's remote "gw", given by environment variables only (no config file). */
function rcloneEnv(): Record<string, string> {
  return {
    ...clientEnv(),
    RCLONE_CONFIG: join(home, "rclone.conf"),
    RCLONE_CONFIG_GW_TYPE: "s3",
    RCLONE_CONFIG_GW_PROVIDER: "Other",
    RCLONE_CONFIG_GW_ENDPOINT: gw.endpoint,
    RCLONE_CONFIG_GW_ACCESS_KEY_ID: ACCESS_KEY,
    RCLONE_CONFIG_GW_SECRET_ACCESS_KEY: SECRET_KEY,
    RCLONE_CONFIG_GW_REGION: "us-east-1",
    RCLONE_CONFIG_GW_FORCE_PATH_STYLE: "true",
  };
}

// clientEnv drops AWS_CA_BUNDLE: Debian's rclone 1.60 refuses to start when it is set.
const rclone = (args: string[]) => run(["/usr/bin/rclone", ...args], rcloneEnv());

describe("gateway with rclone", () => {
  test(
    "a tree synced up and back: rclone check finds no difference either way",
    async () => {
      writeFileSync(join(home, "rclone.conf"), ""); // empty: the remote is all in rcloneEnv
      const tree = join(home, "rtree");
      const files = ["top.txt", "a/b.bin", "a/c/d e.txt", "a/c/ü.txt", "empty.txt"];
      for (const [i, f] of files.entries()) {
        mkdirSync(dirname(join(tree, f)), { recursive: true });
        writeFileSync(join(tree, f), f === "empty.txt" ? "" : `rclone ${i} `.repeat(700 * (i + 1)));
      }
      expect((await rclone(["mkdir", "gw:rclone-bucket"])).code).toBe(0);
      const up = await rclone(["sync", tree, "gw:rclone-bucket/tree"]);
      expect(up.stderr).toBe("");
      expect(up.code).toBe(0);
      expect((await keysIn("rclone-bucket", "tree/")).sort()).toEqual(
        files.map((f) => `tree/${f}`).sort(),
      );
      const checkUp = await rclone(["check", tree, "gw:rclone-bucket/tree"]);
      expect([checkUp.code, checkUp.stderr]).toEqual([0, expect.stringContaining("0 differences")]);
      const back = join(home, "rback");
      expect((await rclone(["sync", "gw:rclone-bucket/tree", back])).code).toBe(0);
      for (const f of files)
        expect(readFileSync(join(back, f)).equals(readFileSync(join(tree, f)))).toBe(true);
      const checkBack = await rclone(["check", back, "gw:rclone-bucket/tree"]);
      expect(checkBack.code).toBe(0);
      // A change on one side is a difference rclone check reports (it does compare).
      writeFileSync(join(back, "top.txt"), "changed");
      const differs = await rclone(["check", back, "gw:rclone-bucket/tree"]);
      expect(differs.code).not.toBe(0);
      expect(differs.stderr).toContain("1 differences found");
    },
    CLI_TEST_TIMEOUT_MS,
  );
});
