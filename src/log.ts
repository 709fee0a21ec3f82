/**
 * Structured logging: one JSON object per line, one line per decision. Every line goes through
 * redaction: values of known secrets are replaced wherever they appear, and fields whose names
 * say they hold credentials are never written.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SECRET_FIELD =
  /^(authorization|x-security-token|security_?token|sk|secret(_?key)?|password|webhook_secret)$/i;

export const REDACTED = "[redacted]";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level: LogLevel;
  requestId?: string;
  /** Secret values to scrub from every line (SK, token, AK, webhook secrets). */
  secrets?: readonly string[];
  write?: (line: string) => void;
}

const writeToStderr = (line: string) => {
  process.stderr.write(`${line}\n`);
};

export function createLogger(options: LoggerOptions): Logger {
  const threshold = SEVERITY[options.level];
  const scrub = secretScrubber(options.secrets ?? []);
  const write = options.write ?? writeToStderr;
  const log =
    (level: LogLevel) =>
    (event: string, fields: LogFields = {}) => {
      if (SEVERITY[level] < threshold) return;
      const line = JSON.stringify(
        {
          time: new Date().toISOString(),
          level,
          event,
          request_id: options.requestId,
          ...fields,
        },
        redactingReplacer,
      );
      write(scrub(line));
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

function redactingReplacer(key: string, value: unknown): unknown {
  return key !== "" && SECRET_FIELD.test(key) ? REDACTED : value;
}

/** Replaces every occurrence of each secret (at least 4 characters long) in a text. */
export function secretScrubber(secrets: readonly string[]): (text: string) => string {
  // Lines are JSON, so a secret with quotes or backslashes appears there in its escaped form too.
  const forms = secrets
    .filter((secret) => secret.length >= 4)
    .flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
  const values = [...new Set(forms)].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (text) => text;
  return (text) => values.reduce((scrubbed, secret) => scrubbed.split(secret).join(REDACTED), text);
}

/**
 * A memory of what was said: true the first time a key is asked about, false after. What is said
 * once per function instance (`scan_api_retired`, `instance_url_mismatch`) keeps one per instance.
 */
export function firstTimes(): (key: string) => boolean {
  const said = new Set<string>();
  return (key) => !said.has(key) && !!said.add(key);
}

/** Once per process: for callers built without their instance's memory (tests, tools). */
export const firstInProcess = firstTimes();
