// What a peer (SMTP server, token endpoint, Graph) says is outside our control: it may be a
// megabyte long, carry terminal escapes or CR/LF, or echo our own request back at us. Every
// piece of peer text passes through `cleanPeerText` before it reaches a job's reason, a log
// line, an API response or a terminal. Linear in the input: the input is cut first, then
// scanned once (no regex that can backtrack over a peer's bytes).

/** The most of a peer's text any one field keeps. */
export const PEER_TEXT_MAX = 1024;

export interface CleanOptions {
  /** Default `PEER_TEXT_MAX` (1 KB). */
  max?: number;
  /** Our own secrets (passwords, client secrets, tokens): masked wherever they appear. */
  secrets?: readonly (string | undefined)[];
}

export const MASK = "[redacted]";

/**
 * One line of at most `max` characters: control characters (C0, DEL, C1, including the ESC of
 * ANSI/OSC sequences) become spaces, runs of white space fold to one, and every secret that
 * occurs in the text (or in what the cut would have shown) is replaced by `[redacted]`.
 */
export function cleanPeerText(input: unknown, options: CleanOptions = {}): string {
  const max = options.max ?? PEER_TEXT_MAX;
  let text = typeof input === "string" ? input : input === undefined || input === null ? "" : String(input);
  // Look at a bit more than we keep, so a secret straddling the cut is still found and masked.
  const secrets = (options.secrets ?? []).filter((s): s is string => typeof s === "string" && s.length >= 4);
  const longest = secrets.reduce((n, s) => Math.max(n, s.length), 0);
  if (text.length > max + longest) text = text.slice(0, max + longest);
  for (const secret of secrets) if (text.includes(secret)) text = text.split(secret).join(MASK);
  let out = "";
  let space = false;
  for (let i = 0; i < text.length && out.length < max; i++) {
    const c = text.charCodeAt(i);
    // C0 controls, space, DEL, C1 controls, and Unicode line/paragraph separators and BOM.
    const blank = c <= 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || c === 0xfeff;
    if (blank) {
      space = out.length > 0;
      continue;
    }
    if (space) {
      out += " ";
      space = false;
    }
    out += text[i];
  }
  if (out.length > max) out = out.slice(0, max);
  const cut = text.length > max || (typeof input === "string" && input.length > text.length);
  return cut && out.length === max ? `${out.slice(0, max - 1)}…` : out;
}
