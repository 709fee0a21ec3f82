import { existsSync, readFileSync } from "node:fs";
import { ScanOnPushError } from "../errors";
import { loadGlobMatcher } from "../scan-policy";

/**
 * The exceptions file, one grammar for the CI gate (`scan --ignore-file`, or `.hssignore` in the
 * working directory when it exists) and the function's alerts (NOTIFY_IGNORE / NOTIFY_IGNORE_FILE):
 * findings a team has looked at and accepted, one per line:
 *
 *   CVE-2026-01001  # the vulnerable code path is not reachable in our build
 *   CVE-2026-01002  image=team/api:*  package=openssl  until=2027-01-31  owner=team-api  # fixed upstream
 *
 * A vulnerability id; optionally `image=<glob>` (matched against `namespace/name:tag`) to limit it
 * to some images; `package=<name>` to limit it to the package HSS names (`app_name`);
 * `until=<YYYY-MM-DD>`, after which it counts again (with a warning); `owner=<who>`, who answers
 * for it; and, required, a reason after `#`. Blank lines and lines starting with `#` are comments.
 * Strict: an unknown key, a date that does not exist or a missing reason is an error naming the line.
 */

export const DEFAULT_IGNORE_FILE = ".hssignore";

export interface IgnoreEntry {
  id: string;
  image?: string;
  package?: string;
  until?: string;
  owner?: string;
  reason: string;
  line: number;
}

export class IgnoreFileError extends ScanOnPushError {
  override readonly name = "IgnoreFileError";
}

export function parseIgnoreFile(text: string, file: string): IgnoreEntry[] {
  const dates = new Map<string, boolean>();
  const entries: IgnoreEntry[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const trimmed = (lines[index] as string).trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const line = index + 1;
    const hash = trimmed.indexOf("#");
    const reason = hash >= 0 ? trimmed.slice(hash + 1).trim() : "";
    const words = (hash >= 0 ? trimmed.slice(0, hash) : trimmed).trim().split(/\s+/);
    const id = words[0];
    if (!id) throw failure(file, line, "expected a vulnerability id");
    if (!reason) throw failure(file, line, `${id} needs a reason after "#" (why it is accepted)`);
    const entry: IgnoreEntry = { id, reason, line };
    for (let word = 1; word < words.length; word++) {
      const part = words[word] as string;
      // The first `=` ends the key: a glob may hold more (image=team/api:v=1).
      const equals = part.indexOf("=");
      const key = equals > 0 ? part.slice(0, equals) : part;
      const value = equals > 0 ? part.slice(equals + 1) : "";
      if (key === "image" && value) entry.image = value;
      else if (key === "package" && value) entry.package = value;
      else if (key === "owner" && value) entry.owner = value;
      else if (key === "until" && isCalendarDate(value, dates)) entry.until = value;
      else if (key === "until") {
        const why = `until=${value}: expected a date that exists, YYYY-MM-DD (e.g. 2027-01-31)`;
        throw failure(file, line, why);
      } else {
        const why = `unknown "${part}" (expected image=<glob>, package=<name>, until=<YYYY-MM-DD> or owner=<who>)`;
        throw failure(file, line, why);
      }
    }
    entries.push(entry);
  }
  return entries;
}

const failure = (file: string, line: number, why: string) =>
  new IgnoreFileError(`${file}:${line}: ${why}`);

/**
 * YYYY-MM-DD naming a day of the calendar (not 2027-99-99, not 2027-02-30). A file repeats a few
 * dates: each is checked once per file (`dates`).
 */
function isCalendarDate(value: string, dates: Map<string, boolean>): boolean {
  let known = dates.get(value);
  if (known === undefined) {
    known = checkDate(value);
    dates.set(value, known);
  }
  return known;
}

function checkDate(value: string): boolean {
  const [year, month, day] = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)?.slice(1).map(Number) ?? [];
  if (year === undefined || month === undefined || day === undefined) return false;
  // Day 0 of the next month is the last day of this one.
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= days;
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

/**
 * Decides which findings are accepted, and says which entries ran out. Entries are found by
 * vulnerability id, and an image glob is compiled the first time a finding of its id is judged:
 * a long file costs its reading, not a glob per line.
 */
export class Ignores {
  private readonly byId = new Map<string, IgnoreEntry[]>();
  private readonly globs = new Map<string, (image: string) => boolean>();
  readonly expired: IgnoreEntry[] = [];
  readonly size: number;

  constructor(entries: IgnoreEntry[], today = new Date().toISOString().slice(0, 10)) {
    this.size = entries.length;
    for (const entry of entries) {
      if (entry.until !== undefined && entry.until < today) {
        this.expired.push(entry);
        continue;
      }
      const same = this.byId.get(entry.id);
      if (same) same.push(entry);
      else this.byId.set(entry.id, [entry]);
    }
  }

  /**
   * The entry that accepts this finding of this image (`namespace/name:tag`), if any; `pkg` is the
   * package HSS names for the finding (an entry with `package=` accepts only that one).
   */
  find(vulnerability: string, image: string, pkg?: string): IgnoreEntry | undefined {
    return this.byId
      .get(vulnerability)
      ?.find(
        (entry) =>
          (entry.package === undefined || entry.package === pkg) && this.matches(entry, image),
      );
  }

  /** Whether this entry accepts a finding in `pkg` of this image (`namespace/name:tag`). */
  accepts(entry: IgnoreEntry, image: string, pkg?: string): boolean {
    return (entry.package === undefined || entry.package === pkg) && this.matches(entry, image);
  }

  /** Entries still in force that end within `days` days of `today` (to be announced). */
  endingWithin(days: number, today = new Date().toISOString().slice(0, 10)): IgnoreEntry[] {
    const last = new Date(Date.parse(`${today}T00:00:00Z`) + days * 86_400_000)
      .toISOString()
      .slice(0, 10);
    return [...this.byId.values()]
      .flat()
      .filter((entry) => entry.until !== undefined && entry.until <= last);
  }

  private matches(entry: IgnoreEntry, image: string): boolean {
    if (entry.image === undefined) return true;
    let glob = this.globs.get(entry.image);
    if (!glob) {
      glob = loadGlobMatcher()(entry.image, { dot: true });
      this.globs.set(entry.image, glob);
    }
    return glob(image);
  }
}
