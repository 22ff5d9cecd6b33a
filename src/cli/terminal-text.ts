// What the server says (reasons, replies, hints, ids) goes to a terminal, and part of it came
// from a peer we do not control: an ANSI/OSC escape in it would retitle the window, recolour
// or rewrite the screen. Every server-provided string the CLI prints passes through here.
import { cleanPeerText } from "../net/peer-text.ts";

/** One line, no control characters (so no escape sequence), at most `max` characters (default 1 KB). */
export function terminalText(value: unknown, max?: number): string {
  return cleanPeerText(value, { max });
}

// C0 except TAB and LF, DEL, C1 (0x9b alone is a CSI on some terminals).
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** The last line of defence for whole outputs (tables, JSON, messages): controls become "?". */
export function withoutControls(text: string): string {
  return text.replace(CONTROLS, "?");
}

/** JSON for a terminal: JSON already escapes C0 inside strings; DEL and C1 are escaped too. */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
