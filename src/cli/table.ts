// Plain-text tables: columns padded to their widest cell, and the last column cut to what is
// left of the terminal, so a row stays on one line however long a failure reason is.

export interface TableOptions {
  /** Total width to fit; undefined: never truncate (output going to a pipe or a file). */
  width?: number;
  /** The last column keeps at least this many characters, even if rows then wrap. */
  minLastColumn?: number;
}

const GAP = "  ";

export function renderTable(header: string[], rows: string[][], options: TableOptions = {}): string {
  const all = [header, ...rows].map((row) => row.map(oneLine));
  const widths = header.map((_, i) => Math.max(...all.map((row) => length(row[i] ?? ""))));
  const last = header.length - 1;
  const fixed = widths.slice(0, last).reduce((sum, w) => sum + w + GAP.length, 0);
  const room = options.width === undefined ? Infinity : Math.max(options.minLastColumn ?? 20, options.width - fixed);
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === last ? truncate(cell, room) : cell + " ".repeat(widths[i]! - length(cell))))
        .join(GAP)
        .trimEnd(),
    )
    .join("\n") + "\n";
}

/** Code points, not UTF-16 units, so an accented reason is not cut mid-character. */
function length(text: string): number {
  return [...text].length;
}

export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join("") + "…";
}

/** A cell is one line: newlines and tabs in a server's reply would break the grid. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
