import type { Alert } from "../alert";

/**
 * What a channel module is: how its platform wants a message, how it signs one, how fast it takes
 * them, and how it says yes or no. Each platform is one module registered in `./index.ts`.
 */

/** A channel as configured in NOTIFY_CHANNELS. `url`, `secret` and `topic` are secrets. */
export interface ChannelSettings {
  name: string;
  /** A type the registry (`./index.ts`) holds: the configuration refuses any other at start. */
  type: string;
  url?: string;
  secret?: string;
  topic?: string;
  /** Fewer messages a minute than the platform takes (never more). */
  per_minute?: number;
}

/** At most `limit` messages in any `windowMs`; a channel may have several (Feishu: a minute and a second). */
export interface RateRule {
  limit: number;
  windowMs: number;
}

/** A message ready to send: one alert in full, or several merged into a summary. */
export interface Rendered {
  /** The request body as the platform takes it (before signing). */
  body: Record<string, unknown>;
  /** How many of the alerts handed in it names (a summary names as many as fit). */
  included: number;
}

/** What the platform answered, judged by the platform's own rules. */
export type Verdict =
  | { ok: true; code: string }
  | {
      ok: false;
      /** The platform's own code (`errcode`, `code`, an error string, or `HTTP <status>`). */
      code: string;
      /** The platform's message, short, never the URL or a secret. */
      message: string;
      /**
       * `retry`: it may take it later (a limit, an outage, a setting someone can fix on the
       * platform); `never`: this body will never be taken (its shape or size).
       */
      fate: "retry" | "never";
      /** How long the platform asks to wait (a 429's Retry-After, a known block), in ms. */
      waitMs?: number;
    };

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** What a channel needs to send: an HTTP POST, SMN's publish, the clock. */
export interface SendContext {
  post(url: URL, headers: Record<string, string>, body: string): Promise<HttpAnswer>;
  publishSmn?(topic: string, subject: string, message: string): Promise<HttpAnswer>;
  now(): number;
}

export interface RenderOptions {
  /** Vulnerabilities listed in a single alert, at most. */
  maxVulnerabilities: number;
}

export interface ChannelModule {
  /** Its name in the registry and in NOTIFY_CHANNELS' `type`. */
  readonly type: string;
  /** The platform's name, as its users know it. */
  readonly title: string;
  /** Whether `secret` means something here (signing). */
  readonly signs: boolean;
  /** The platform's own limits on how fast it takes messages. */
  readonly rate: readonly RateRule[];
  /** The largest message it takes, in bytes of the part the platform limits. */
  readonly maxBytes: number;
  /** Every problem with this channel's settings, each a sentence (none: it can be used). */
  check(settings: ChannelSettings): string[];
  /**
   * One alert in full (`alerts.length === 1`), or a summary naming as many as fit, from the first
   * (callers hand them in the order to show: the highest severity first).
   */
  render(alerts: readonly Alert[], options: RenderOptions): Rendered;
  /** Posts it (signed where the platform signs) and judges the answer. */
  send(settings: ChannelSettings, rendered: Rendered, context: SendContext): Promise<Verdict>;
}

/** A JSON body's size, in UTF-8 bytes. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/**
 * The largest `n` in 1..`max` whose build fits `limit` bytes (sizes grow with n), or 1 when even
 * that does not: the caller's build must then cut its own text.
 */
export function largestFitting<T>(
  max: number,
  build: (n: number) => T,
  size: (value: T) => number,
  limit: number,
): { value: T; n: number } {
  const all = build(max);
  if (max <= 1 || size(all) <= limit) return { value: all, n: max };
  let low = 1;
  let high = max - 1;
  let best = { value: build(1), n: 1 };
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const value = build(middle);
    if (size(value) <= limit) {
      best = { value, n: middle };
      low = middle + 1;
    } else high = middle - 1;
  }
  return best;
}

/** How a platform lays one alert, or a summary, out; `renderWith` fits it to the platform's size. */
export interface Layout<B> {
  /** One alert, with its first `shown` vulnerabilities listed. */
  single(alert: Alert, shown: number): B;
  /** A summary naming the first `count` of the alerts. */
  summary(alerts: readonly Alert[], count: number): B;
  /** The size the platform limits, in bytes (infinite when a part is over a limit of its own). */
  size(value: B): number;
  maxBytes: number;
  /** The request body (before signing). */
  body(value: B): Record<string, unknown>;
  /** The last resort for one alert that does not fit even with one vulnerability listed. */
  cut?(value: B): B;
}

export function renderWith<B>(
  layout: Layout<B>,
  alerts: readonly Alert[],
  options: RenderOptions,
): Rendered {
  if (alerts.length === 1) {
    const alert = alerts[0] as Alert;
    const max = Math.min(options.maxVulnerabilities, alert.vulnerabilities.length);
    let { value } = largestFitting(
      Math.max(max, 1),
      (shown) => layout.single(alert, max === 0 ? 0 : shown),
      layout.size,
      layout.maxBytes,
    );
    if (layout.cut && layout.size(value) > layout.maxBytes) value = layout.cut(value);
    return { body: layout.body(value), included: 1 };
  }
  const { value, n } = largestFitting(
    alerts.length,
    (count) => layout.summary(alerts, count),
    layout.size,
    layout.maxBytes,
  );
  return { body: layout.body(value), included: n };
}

/** A JSON POST of the rendered body as it is (no signing). */
export function postJson(
  settings: ChannelSettings,
  body: unknown,
  context: SendContext,
  headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" },
): Promise<HttpAnswer> {
  return context.post(new URL(settings.url as string), headers, JSON.stringify(body));
}

/**
 * The answer of a platform that says yes or no with a number in its body (DingTalk's and WeCom's
 * `errcode`, Feishu's `code`): 0 is delivered, whatever the HTTP status says; `waits` are its
 * "too fast" codes with how long to wait; `never` the codes for a body it will never take; any
 * other code may pass later (a setting someone can fix on the platform).
 */
export function codeVerdict(
  answer: HttpAnswer,
  now: number,
  platform: {
    name: string;
    /** What the platform calls its code, for the log: `errcode 0`. */
    field: "errcode" | "code";
    code(body: Record<string, unknown>): unknown;
    message(body: Record<string, unknown>): unknown;
    waits: Record<number, number>;
    never: readonly number[];
  },
): Verdict {
  const body = jsonObject(answer.body);
  const code = body ? platform.code(body) : undefined;
  if (typeof code !== "number") {
    if (answer.status < 200 || answer.status >= 300) return httpFailure(answer, now);
    return {
      ok: false,
      code: `HTTP ${answer.status}`,
      message: `not ${platform.name}'s answer: ${shortText(answer.body, 80) || "empty body"}`,
      fate: "retry",
    };
  }
  if (code === 0) return { ok: true, code: `${platform.field} 0` };
  const message = shortText(body ? platform.message(body) : undefined) || "no message";
  const waitMs = platform.waits[code];
  if (waitMs !== undefined)
    return { ok: false, code: String(code), message, fate: "retry", waitMs };
  return {
    ok: false,
    code: String(code),
    message,
    fate: platform.never.includes(code) ? "never" : "retry",
  };
}

/** A header's value, as one string. */
export function headerOf(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After in seconds (or an HTTP date), as ms from now; undefined when absent or unreadable. */
export function retryAfterMs(answer: HttpAnswer, now: number): number | undefined {
  const value = headerOf(answer, "retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** A JSON object answer, or undefined when the body is not one. */
export function jsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A platform's text, short and on one line (answers are shown and logged; they never hold our secrets). */
export function shortText(value: unknown, max = 200): string {
  const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** An HTTP failure without a body code the platform documents: 5xx and 429 may pass later. */
export function httpFailure(answer: HttpAnswer, now: number, message?: string): Verdict {
  const waitMs = retryAfterMs(answer, now);
  return {
    ok: false,
    code: `HTTP ${answer.status}`,
    message: message ?? (shortText(answer.body) || "no body"),
    fate: "retry",
    ...(waitMs !== undefined ? { waitMs } : {}),
  };
}

/**
 * A channel's URL checked (https, and the platform's own shape, given as `example`), and a
 * `secret` refused where the platform has no signing.
 */
export function settingsProblems(
  settings: ChannelSettings,
  platform: { title: string; example: string; matches(url: URL): boolean; signs: boolean },
): string[] {
  const problems: string[] = [];
  const urlIssue = urlProblem(settings.name, settings.url);
  if (urlIssue) problems.push(urlIssue);
  else if (!platform.matches(new URL(settings.url as string))) {
    problems.push(`${settings.name}: a ${platform.title}'s URL is ${platform.example}`);
  }
  if (!platform.signs && settings.secret !== undefined) {
    problems.push(`${settings.name}: ${platform.title} has no signing; remove "secret"`);
  }
  return problems;
}

/** Whether the URL may be used: https, or http to this machine (the stand-ins, a local relay). */
export function urlProblem(name: string, raw: string | undefined): string | undefined {
  if (!raw) return `${name}: needs "url"`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${name}: "url" is not a URL`;
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    return `${name}: "url" must be https (http only to this machine)`;
  }
  return undefined;
}
