// The process's edges, as one object a command receives: so commands never touch `process`
// directly and the runner can be driven in-process by a test.

export interface Io {
  /** Writes to stdout; resolves once the text is handed to the OS (safe to exit after). */
  out(text: string): Promise<void>;
  err(text: string): Promise<void>;
  env: Record<string, string | undefined>;
  /** Width to fit tables into; undefined means "not a terminal, do not truncate". */
  columns: number | undefined;
  readStdin(): Promise<string>;
}

export function processIo(): Io {
  return {
    out: (text) => write(process.stdout, text),
    err: (text) => write(process.stderr, text),
    env: process.env,
    columns: terminalColumns(),
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** A terminal's width, else `COLUMNS` when set (lets a pipe ask for truncation), else none. */
function terminalColumns(): number | undefined {
  if (process.stdout.isTTY && process.stdout.columns > 0) return process.stdout.columns;
  const fromEnv = Number(process.env.COLUMNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}
