// Escaping and link helpers shared by every template. Rendering is on the hot path, so these
// scan strings once and return the input untouched when there is nothing to do.

/** Escapes the five characters that matter in HTML text and double- or single-quoted attributes. */
export function escapeHtml(s: string): string {
  let out = "";
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    let rep: string;
    switch (s.charCodeAt(i)) {
      case 38: rep = "&amp;"; break;
      case 60: rep = "&lt;"; break;
      case 62: rep = "&gt;"; break;
      case 34: rep = "&quot;"; break;
      case 39: rep = "&#39;"; break;
      default: continue;
    }
    out += s.slice(last, i) + rep;
    last = i + 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

const NEWLINE = /\r\n|\r|\n/g;

/** Escaped text whose line breaks survive in HTML (mail clients collapse raw newlines). */
export function escapeMultiline(s: string): string {
  const escaped = escapeHtml(s);
  // The newline after <br> keeps source lines short (see layout.ts).
  return escaped.includes("\n") || escaped.includes("\r") ? escaped.replace(NEWLINE, "<br>\n") : escaped;
}

const MAX_URL_LENGTH = 2048;

/**
 * The URL itself when it is a plain http(s) URL, else undefined so callers drop the link.
 * Whitespace, control characters, quotes and angle brackets are refused rather than cleaned:
 * browsers silently strip some of them (`java\tscript:`), and the same value goes into the
 * `List-Unsubscribe: <url>` header, where CR/LF or `>` would break the header.
 */
export function safeHref(url: string | undefined): string | undefined {
  if (typeof url !== "string" || url.length > MAX_URL_LENGTH) return undefined;
  const lower = url.slice(0, 8).toLowerCase();
  const rest = lower.startsWith("https://") ? 8 : lower.startsWith("http://") ? 7 : -1;
  if (rest < 0 || url.length === rest) return undefined;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 34 || c === 60 || c === 62 || c === 92) return undefined;
  }
  return url;
}

/**
 * `safeHref`, in ASCII: a mail header (List-Unsubscribe) takes no raw UTF-8, so a non-ASCII
 * URL gets its host punycoded and the rest percent-encoded (the WHATWG URL serialisation).
 * ASCII URLs come back untouched; one that does not parse is dropped.
 */
export function asciiHref(url: string | undefined): string | undefined {
  const safe = safeHref(url);
  if (safe === undefined) return undefined;
  let ascii = true;
  for (let i = 0; i < safe.length && ascii; i++) ascii = safe.charCodeAt(i) < 0x80;
  if (ascii) return safe;
  try {
    return safeHref(new URL(safe).href);
  } catch {
    return undefined;
  }
}

const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_RUN = /[\u0000-\u001f\u007f]+/g;

/** A subject is one header line: CR/LF (and other controls) would let data inject headers. */
export function subjectLine(s: string): string {
  return CONTROL.test(s) ? s.replace(CONTROL_RUN, " ").trim() : s;
}
