/** S3's XML: rendering of replies and errors, and the little parsing the requests need. */
import type { S3Error } from "./errors.ts";

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = "http://s3.amazonaws.com/doc/2006-03-01/";

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;",
  );
}

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e] ?? "";
  });
}

/** A value tree rendered as elements: arrays repeat the element, undefined leaves it out. */
export type XmlValue = string | number | boolean | undefined | XmlNode | XmlNode[];
export interface XmlNode {
  [name: string]: XmlValue | XmlValue[];
}

function renderValue(name: string, value: XmlValue | XmlValue[], out: string[]): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const v of value) renderValue(name, v, out);
    return;
  }
  if (typeof value === "object") {
    out.push(`<${name}>`);
    for (const [child, v] of Object.entries(value)) renderValue(child, v, out);
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>${escapeXml(String(value))}</${name}>`);
}

/** A reply document: `<Root xmlns=...>` and the tree under it. */
export function renderDocument(root: string, body: XmlNode): string {
  const out: string[] = [XML_HEAD, `<${root} xmlns="${NS}">`];
  for (const [name, value] of Object.entries(body)) renderValue(name, value, out);
  out.push(`</${root}>`);
  return out.join("");
}

export function renderError(error: S3Error, resource: string, requestId: string): string {
  const out: string[] = [XML_HEAD];
  renderValue(
    "Error",
    { Code: error.code, Message: error.message, Resource: resource, RequestId: requestId },
    out,
  );
  return out.join("");
}

/** The texts of every `<name>` element, unescaped; undefined when the document is not XML. */
export function elementTexts(xml: string, name: string): string[] {
  const texts: string[] = [];
  for (const m of xml.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, "g"))) {
    texts.push(unescapeXml(m[1]!));
  }
  return texts;
}

/** The `<Delete>` body of DeleteObjects: its keys and Quiet flag, or undefined if malformed. */
export function parseDeleteRequest(xml: string): { keys: string[]; quiet: boolean } | undefined {
  const body = xml.replace(/^\s*<\?xml[^>]*\?>/, "").trim();
  if (!/^<Delete(\s[^>]*)?>[\s\S]*<\/Delete>$/.test(body)) return undefined;
  const objects = [...body.matchAll(/<Object>([\s\S]*?)<\/Object>/g)];
  const keys: string[] = [];
  for (const o of objects) {
    const key = elementTexts(o[1]!, "Key");
    if (key.length !== 1) return undefined;
    keys.push(key[0]!);
  }
  if (keys.length === 0) return undefined;
  return { keys, quiet: elementTexts(body, "Quiet")[0]?.trim() === "true" };
}

/** The `<CompleteMultipartUpload>` body: its parts, or undefined if malformed. */
export function parseCompleteRequest(xml: string): { number: number; etag: string }[] | undefined {
  const body = xml.replace(/^\s*<\?xml[^>]*\?>/, "").trim();
  if (!/^<CompleteMultipartUpload(\s[^>]*)?>[\s\S]*<\/CompleteMultipartUpload>$/.test(body)) {
    return undefined;
  }
  const parts: { number: number; etag: string }[] = [];
  for (const m of body.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const number = elementTexts(m[1]!, "PartNumber");
    const etag = elementTexts(m[1]!, "ETag");
    if (number.length !== 1 || etag.length !== 1 || !/^\d+$/.test(number[0]!.trim())) {
      return undefined;
    }
    parts.push({ number: Number(number[0]!.trim()), etag: etag[0]!.trim() });
  }
  return parts;
}
