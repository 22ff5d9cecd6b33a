// Builds the RFC 5322 message for one email in a single pass. Every email we send has the same
// shape (multipart/alternative: text + HTML, UTF-8), so this skips nodemailer's general
// composer, which is a pipeline of streams and costs more CPU per email than everything else
// on the worker's hot path together (see bench/). Header encoding still uses nodemailer's own
// MIME functions; bodies are 7bit when they are plain ASCII with short lines, else base64.
// Template text is someone else's: the boundary is random per message (a body cannot guess it
// and close a part early), and every header value is quoted or RFC 2047 encoded with control
// characters removed (a name cannot add an address or a header).
import { randomBytes, randomFillSync } from "node:crypto";
import { encodeWord } from "nodemailer/lib/mime-funcs";

export interface ComposeInput {
  from: { name?: string; address: string };
  to: string;
  replyTo?: string;
  subject: string;
  text: string;
  html: string;
  /** Extra headers (List-Unsubscribe …): ASCII values only. */
  headers: Record<string, string>;
}

export interface ComposedMessage {
  raw: Buffer;
  messageId: string;
  envelope: { from: string; to: string[] };
}

/** Header values we can write as they are: printable ASCII, no CR/LF. */
const SAFE_HEADER = /^[\x20-\x7e]*$/;
/** Body text that needs no transfer encoding (RFC 5322 lines stay under 998 octets). */
const SEVEN_BIT = /^[\x09\x0a\x0d\x20-\x7e]*$/;

// Unique ids without per-message crypto: a random per-process part, the time and a counter.
const processPart = randomBytes(6).toString("hex");
let counter = 0;
function nextUnique(): string {
  counter = (counter + 1) % 0x1000000;
  return `${Date.now().toString(36)}.${counter.toString(36)}.${processPart}`;
}

// Boundaries: 144 random bits each, cut from a pool refilled by the CSPRNG every ~220 messages,
// so the hot path does not call into the RNG per message.
const BOUNDARY_BYTES = 18;
const pool = Buffer.allocUnsafe(BOUNDARY_BYTES * 227);
let poolOffset = pool.length;
function randomBoundary(): string {
  if (poolOffset + BOUNDARY_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const token = pool.toString("base64url", poolOffset, poolOffset + BOUNDARY_BYTES);
  poolOffset += BOUNDARY_BYTES;
  return `=_notify_${token}`;
}

/** C0 controls (TAB, CR, LF, NUL, ESC …), DEL and C1 controls: never raw in a header. */
const CONTROLS = /[\x00-\x1f\x7f-\x9f]+/g;
const HAS_CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/** Header text with every run of control characters turned into one space. */
export function headerText(value: string): string {
  return HAS_CONTROL.test(value) ? value.replace(CONTROLS, " ").trim() : value;
}

export class ComposeError extends Error {
  override name = "ComposeError";
}

export function composeMessage(input: ComposeInput, now: Date = new Date()): ComposedMessage {
  for (const [name, value] of Object.entries(input.headers)) {
    if (!/^[A-Za-z0-9-]+$/.test(name) || !SAFE_HEADER.test(value)) throw new ComposeError(`header ${name} must be printable ASCII`);
  }
  if (!SAFE_HEADER.test(input.from.address) || !SAFE_HEADER.test(input.to) || (input.replyTo && !SAFE_HEADER.test(input.replyTo))) {
    throw new ComposeError("addresses must be ASCII");
  }
  const domain = input.from.address.slice(input.from.address.lastIndexOf("@") + 1) || "localhost";
  const messageId = `<${nextUnique()}@${domain}>`;
  let boundary = randomBoundary();
  // Unguessable already; this makes "a body can never close its part" hold without odds.
  while (input.text.includes(boundary) || input.html.includes(boundary)) boundary = randomBoundary();

  const head = [
    `From: ${formatAddress(input.from)}`,
    `To: ${input.to}`,
    ...(input.replyTo ? [`Reply-To: ${input.replyTo}`] : []),
    `Subject: ${encodeHeader(input.subject)}`,
    `Date: ${dateHeader(now)}`,
    `Message-ID: ${messageId}`,
    ...Object.entries(input.headers).map(([name, value]) => `${name}: ${value}`),
    "MIME-Version: 1.0",
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    "",
    `--${boundary}\r\n`,
  ].join("\r\n");
  // The parts are cached bytes: a fan-out's bodies are encoded once, not once per email.
  const raw = Buffer.concat([Buffer.from(head), encodedPart("text/plain", input.text), Buffer.from(`\r\n--${boundary}\r\n`), encodedPart("text/html", input.html), Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { raw, messageId, envelope: { from: input.from.address, to: [input.to] } };
}

// The Date header has a resolution of a second, and formatting a Date is slower than all the
// other headers together: one formatted second is kept.
let dateSecond = NaN;
let dateText = "";
function dateHeader(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = now.toUTCString().replace("GMT", "+0000");
  }
  return dateText;
}

// Encoded parts by body, for each part type: a fan-out sends one body to many recipients, and
// templates/render-cache.ts hands out the very same body strings, so the lookup is cheap. A
// bounded memo of a pure function: what it returns never depends on what was cached.
const PART_CACHE_SIZE = 64;
const encodedParts = new Map<string, Map<string, Buffer>>();

/** A part's headers and encoded body, as bytes (never changed once made: Buffer.concat copies). */
function encodedPart(type: "text/plain" | "text/html", body: string): Buffer {
  let byBody = encodedParts.get(type);
  if (!byBody) encodedParts.set(type, (byBody = new Map()));
  let bytes = byBody.get(body);
  if (!bytes) {
    bytes = Buffer.from(part(type, body).join("\r\n"));
    byBody.set(body, bytes);
    if (byBody.size > PART_CACHE_SIZE) byBody.delete(byBody.keys().next().value!);
  }
  return bytes;
}

function part(type: string, body: string): string[] {
  if (SEVEN_BIT.test(body) && !hasLongLine(body)) {
    return [`Content-Type: ${type}; charset=utf-8`, "Content-Transfer-Encoding: 7bit", "", body.replace(/\r?\n|\r/g, "\r\n")];
  }
  const base64 = Buffer.from(body, "utf8").toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 76) lines.push(base64.slice(i, i + 76));
  return [`Content-Type: ${type}; charset=utf-8`, "Content-Transfer-Encoding: base64", "", lines.join("\r\n")];
}

/** A line of 998 octets or more (RFC 5322's limit). A scan, not a regex: this runs per email. */
function hasLongLine(body: string): boolean {
  let start = 0;
  for (;;) {
    const end = body.indexOf("\n", start);
    if ((end === -1 ? body.length : end) - start >= 998) return true;
    if (end === -1) return false;
    start = end + 1;
  }
}

/**
 * `"Name" <address>`: a quoted string when the name is printable ASCII (quotes and backslashes
 * escaped), else encoded words for the whole name, so no comma, angle bracket or control in a name can
 * ever read as a second address.
 */
function formatAddress(address: { name?: string; address: string }): string {
  const name = address.name ? headerText(address.name) : "";
  if (!name) return address.address;
  // "=?" too: many clients decode encoded words even inside quotes; encoded, it shows as written.
  if (SAFE_HEADER.test(name) && !name.includes("=?")) return `"${name.replace(/["\\]/g, "\\$&")}" <${address.address}>`;
  return `${encodeWord(name, "B", 52)} <${address.address}>`;
}

/**
 * Subject-like text: as is when printable ASCII, short and free of "=?" (which a client would
 * decode as an encoded word), else RFC 2047 encoded words, folded.
 */
function encodeHeader(value: string): string {
  const clean = headerText(value);
  if (SAFE_HEADER.test(clean) && clean.length <= 900 && !clean.includes("=?")) return clean;
  return encodeWord(clean, "B", 52).replace(/\?= =\?/g, "?=\r\n =?");
}
