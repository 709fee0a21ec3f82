import type { Logger } from "../log";
import { type Alert, imageName, severityRank } from "./alert";
import type { ChannelSettings, RateRule, SendContext, Verdict } from "./channels/channel";
import { channelModule } from "./channels/index";
import type { AlertOutbox, OutboxEntry } from "./outbox";

/**
 * Posts the alerts that are due, channel by channel, each within its platform's rate: when more
 * are due than the channel takes now, they go as one summary (as many as fit its size, the rest
 * next). A post counts only when the platform says so; otherwise it is retried with backoff
 * (longer when the platform says how long), for NOTIFY_RETRY_SECONDS after the alert was put,
 * then dead-lettered. A body the platform can never take is dead-lettered at once.
 */

export interface DeliverySettings {
  channels: readonly ChannelSettings[];
  maxVulnerabilities: number;
  /** How long after it was put an alert is still retried. */
  retryMs: number;
  /** How long a sent alert's key is remembered (a later identical one sends nothing). */
  sentTtlMs: number;
  /** How long one instance holds claimed alerts (another takes them after it). */
  leaseMs: number;
  /** One post's timeout. */
  timeoutMs: number;
}

/** The alerts claimed per channel in one pass, at most. */
const CLAIM_LIMIT = 200;
/** The first retry's delay; each next doubles, up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 30_000;
export const MAX_BACKOFF_MS = 15 * 60_000;

export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, attempts - 1));
}

export interface ChannelReport {
  sent: number;
  summaries: number;
  failed: number;
  dead: number;
  /** Left for later: the rate, a block, or the deadline. */
  deferred: number;
}

export type DeliveryReport = Record<string, ChannelReport>;

/** A channel's rules: the platform's, and the channel's own `per_minute` when lower. */
export function rulesOf(channel: ChannelSettings): RateRule[] {
  const rules = [...channelModule(channel.type).rate];
  if (channel.per_minute) rules.push({ limit: channel.per_minute, windowMs: 60_000 });
  return rules;
}

const bySeverity = (a: OutboxEntry, b: OutboxEntry) =>
  severityRank(b.alert.severity) - severityRank(a.alert.severity) || a.created_at - b.created_at;

export async function deliverDue(options: Pass): Promise<DeliveryReport> {
  const report: DeliveryReport = {};
  await Promise.all(
    options.settings.channels.map(async (channel) => {
      report[channel.name] = await deliverChannel(channel, options);
    }),
  );
  return report;
}

interface Pass {
  outbox: AlertOutbox;
  settings: DeliverySettings;
  context: SendContext;
  log: Logger;
  deadline: number;
}

async function deliverChannel(channel: ChannelSettings, pass: Pass): Promise<ChannelReport> {
  const { outbox, settings, context } = pass;
  const report: ChannelReport = { sent: 0, summaries: 0, failed: 0, dead: 0, deferred: 0 };
  if ((await outbox.blockedFor(channel.name)) > 0) return report;
  // Stop posting in time to hand the rest back before the lease or the invocation ends.
  const stopAt =
    Math.min(pass.deadline, Date.now() + settings.leaseMs) - settings.timeoutMs - 2_000;
  const claimed = (await outbox.claim(channel.name, CLAIM_LIMIT, settings.leaseMs)).sort(
    bySeverity,
  );
  if (claimed.length === 0) return report;
  const take = await outbox.take(channel.name, rulesOf(channel), claimed.length);
  if (take.granted === 0) {
    report.deferred = claimed.length;
    await outbox.retry(claimed, Math.max(1_000, take.nextAt - context.now()));
    return report;
  }
  // Each alert on its own when the rate has room for all; else one summary of as many as fit.
  const groups = take.granted >= claimed.length ? claimed.map((entry) => [entry]) : [claimed];
  for (let index = 0; index < groups.length; index++) {
    if (Date.now() > stopAt) {
      const rest = groups.slice(index).flat();
      report.deferred += rest.length;
      await outbox.retry(rest, 0);
      break;
    }
    const delay = await post(channel, groups[index] as OutboxEntry[], report, pass);
    if (delay === "sent") continue;
    // The platform refused: the rest of this pass waits as long, unattempted.
    const rest = groups.slice(index + 1).flat();
    if (rest.length > 0) {
      report.deferred += rest.length;
      await outbox.retry(rest, delay ?? FIRST_BACKOFF_MS);
    }
    break;
  }
  return report;
}

/** One message: "sent", or the delay before the alerts are tried again (undefined: buried). */
async function post(
  channel: ChannelSettings,
  group: OutboxEntry[],
  report: ChannelReport,
  pass: Pass,
): Promise<"sent" | number | undefined> {
  const { outbox, settings, context, log } = pass;
  const module = channelModule(channel.type);
  const rendered = module.render(
    group.map((entry) => entry.alert),
    { maxVulnerabilities: settings.maxVulnerabilities },
  );
  const included = group.slice(0, rendered.included);
  const left = group.slice(rendered.included);
  let verdict: Verdict;
  try {
    verdict = await module.send(channel, rendered, context);
  } catch (error) {
    verdict = {
      ok: false,
      code: (error as { kind?: string }).kind ?? "error",
      message: ((error as Error).message ?? String(error)).slice(0, 200),
      fate: "retry",
    };
  }
  if (left.length > 0) {
    report.deferred += left.length;
    await outbox.retry(left, 0);
  }
  if (verdict.ok) {
    await outbox.sent(included, settings.sentTtlMs);
    report.sent += included.length;
    if (included.length > 1) report.summaries += 1;
    log.info("notified", {
      channel: channel.name,
      type: channel.type,
      answer: verdict.code,
      ...(included.length === 1
        ? describe(included[0] as OutboxEntry)
        : {
            summary: true,
            alerts: included.length,
            routes: [...new Set(included.map((entry) => entry.route))],
          }),
    });
    return "sent";
  }
  report.failed += included.length;
  const delay = await failed(channel, included, verdict, pass);
  if (delay === undefined) report.dead += included.length;
  return delay;
}

function describe(entry: OutboxEntry) {
  const alert: Alert = entry.alert;
  return {
    route: entry.route,
    image: imageName(alert, 20),
    ...(alert.instance_id ? { instance_id: alert.instance_id } : {}),
    ...(alert.digest ? { digest: alert.digest } : {}),
    severity_level: alert.severity,
    vul_num: alert.vul_num,
  };
}

/** Logs the refusal and retries or buries the alerts; the delay of the retry, or undefined when buried. */
async function failed(
  channel: ChannelSettings,
  entries: OutboxEntry[],
  verdict: Extract<Verdict, { ok: false }>,
  options: Pass,
): Promise<number | undefined> {
  const { outbox, settings, context, log } = options;
  const now = context.now();
  if (verdict.waitMs) await outbox.block(channel.name, verdict.waitMs);
  const attempts = Math.max(...entries.map((entry) => entry.attempts)) + 1;
  const delay = Math.max(backoffMs(attempts), verdict.waitMs ?? 0);
  const oldest = Math.min(...entries.map((entry) => entry.created_at));
  const givenUp = verdict.fate === "never" || now + delay - oldest > settings.retryMs;
  const updated = entries.map((entry) => ({
    ...entry,
    attempts: entry.attempts + 1,
    last_error: { code: verdict.code, message: verdict.message, at: now },
  }));
  log.warn("notify_failed", {
    channel: channel.name,
    type: channel.type,
    code: verdict.code,
    message: verdict.message,
    alerts: entries.length,
    ...(entries.length === 1 ? describe(entries[0] as OutboxEntry) : {}),
    attempt: attempts,
    ...(givenUp
      ? {
          dead_lettered: true,
          reason:
            verdict.fate === "never"
              ? "the platform will never take this message"
              : `still refused ${Math.round((now - oldest) / 1000)} s after the alert (NOTIFY_RETRY_SECONDS=${Math.round(settings.retryMs / 1000)})`,
        }
      : { retry_in_s: Math.ceil(delay / 1000) }),
  });
  if (givenUp) {
    await outbox.bury(updated);
    return undefined;
  }
  await outbox.retry(updated, delay);
  return delay;
}
