// PUT over a stored config this process cannot open (sealed under an unknown master key): the
// new body may replace it only if it carries every secret itself, since there is nothing
// readable to keep an omitted secret from. Otherwise the same 409 as GET, with what to do.
import type { SmtpConfigStore, StoredConfig } from "../smtp-config/store.ts";
import { UnreadableConfigError } from "../smtp-config/unreadable.ts";
import { REDACTED } from "../smtp-config/model.ts";

export interface ExistingForPut {
  existing: StoredConfig | null;
  /** True when the stored config is unreadable and the body may replace it. */
  replacesUnreadable: boolean;
}

export async function existingForPut(store: SmtpConfigStore, projectId: string, body: unknown): Promise<ExistingForPut> {
  try {
    return { existing: await store.get(projectId), replacesUnreadable: false };
  } catch (err) {
    if (err instanceof UnreadableConfigError && carriesEverySecret(body)) return { existing: null, replacesUnreadable: true };
    throw err;
  }
}

/** No auth, or auth with its password / client secret given (not omitted, empty or "[redacted]"). */
function carriesEverySecret(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return true; // validation will refuse it
  const auth = (body as { auth?: unknown }).auth;
  if (auth === undefined) return true;
  if (typeof auth !== "object" || auth === null) return true;
  const { type, password, clientSecret } = auth as { type?: unknown; password?: unknown; clientSecret?: unknown };
  if (type !== "password" && type !== "oauth") return true; // validation will refuse it
  const secret = type === "oauth" ? clientSecret : password;
  return typeof secret === "string" && secret !== "" && secret !== REDACTED;
}
