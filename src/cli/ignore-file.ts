import { existsSync, readFileSync } from "node:fs";
import picomatch from "picomatch";
import { ScanOnPushError } from "../errors";

/**
 * The ignore file of `scan` (`--ignore-file`, or `.hssignore` in the working directory when it
 * exists): findings a team has looked at and accepted, one per line:
 *
 *   CVE-2026-01001  # the vulnerable code path is not reachable in our build
 *   CVE-2026-01002  image=team/api:*  until=2027-01-31  # fixed upstream in the next base image
 *
 * A vulnerability id; optionally `image=<glob>` (matched against `namespace/name:tag`) to limit it
 * to some images; optionally `until=<YYYY-MM-DD>`, after which it counts again (with a warning);
 * and, required, a reason after `#`. Blank lines and lines starting with `#` are comments.
 */

export const DEFAULT_IGNORE_FILE = ".hssignore";

export interface IgnoreEntry {
  id: string;
  image?: string;
  until?: string;
  reason: string;
  line: number;
}

export class IgnoreFileError extends ScanOnPushError {
  override readonly name = "IgnoreFileError";
}

export function parseIgnoreFile(text: string, file: string): IgnoreEntry[] {
  const entries: IgnoreEntry[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const hash = trimmed.indexOf("#");
    const reason = hash >= 0 ? trimmed.slice(hash + 1).trim() : "";
    const [id, ...rest] = (hash >= 0 ? trimmed.slice(0, hash) : trimmed).trim().split(/\s+/);
    const fail = (why: string) => new IgnoreFileError(`${file}:${line}: ${why}`);
    if (!id) throw fail("expected a vulnerability id");
    if (!reason) throw fail(`${id} needs a reason after "#" (why it is accepted)`);
    const entry: IgnoreEntry = { id, reason, line };
    for (const part of rest) {
      const [key, value] = part.split("=", 2);
      if (key === "image" && value) entry.image = value;
      else if (key === "until" && value && /^\d{4}-\d{2}-\d{2}$/.test(value)) entry.until = value;
      else throw fail(`unknown "${part}" (expected image=<glob> or until=<YYYY-MM-DD>)`);
    }
    entries.push(entry);
  }
  return entries;
}

/** The entries of the file given, or of `.hssignore` when none is given and it exists. */
export function loadIgnoreFile(file: string | undefined, cwd = process.cwd()): IgnoreEntry[] {
  const path = file ?? (existsSync(`${cwd}/${DEFAULT_IGNORE_FILE}`) ? DEFAULT_IGNORE_FILE : "");
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path.startsWith("/") ? path : `${cwd}/${path}`, "utf8");
  } catch (error) {
    throw new IgnoreFileError(
      `cannot read the ignore file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
  return parseIgnoreFile(text, path);
}

/** Decides which findings are accepted, and says which entries ran out. */
export class Ignores {
  private readonly active: Array<IgnoreEntry & { matches: (image: string) => boolean }>;
  readonly expired: IgnoreEntry[];

  constructor(entries: IgnoreEntry[], today = new Date().toISOString().slice(0, 10)) {
    this.expired = entries.filter((entry) => entry.until !== undefined && entry.until < today);
    this.active = entries
      .filter((entry) => !this.expired.includes(entry))
      .map((entry) => ({
        ...entry,
        matches: entry.image ? picomatch(entry.image, { dot: true }) : () => true,
      }));
  }

  /** The entry that accepts this finding of this image (`namespace/name:tag`), if any. */
  find(vulnerability: string, image: string): IgnoreEntry | undefined {
    return this.active.find((entry) => entry.id === vulnerability && entry.matches(image));
  }

  get size(): number {
    return this.active.length + this.expired.length;
  }
}
