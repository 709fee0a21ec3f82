import { type Instance, instanceUrlsOf, invocationOf, openInstance } from "../composition-root";
import { ConfigError, loadConfig } from "../config";
import { flushQueue } from "../flush/flusher";
import { describeSource } from "../images/instance-url";
import { queueBackendOf } from "../queue/backends";
import type { ScanQueue } from "../queue/scan-queue";
import { rescanStatus } from "../rescan/rescan-set";
import { defineCommand, HSS_VARIABLES, readCommandLine, UsageError, withoutHss } from "./command";

/**
 * `npm run queue -- <command>`: what operators need to see and do with the shared scan queue,
 * with the function's own configuration (the same variables, from the environment):
 *   status      pending, claimed, dead-lettered, how full the queue is (MAX_QUEUED_IMAGES),
 *               whether Redis persists it, HSS calls in the current window, oldest wait, and
 *               the dead letters with HSS's error
 *   flush       send what the HSS budget allows now, as the timer trigger does
 *   retry-dead  put every dead-lettered image back on the queue
 * `--json` prints one JSON value instead of text. Exit 0 on success, 1 when the queue or HSS
 * failed, 2 for usage and configuration errors.
 */
const DEAD_LETTERS_SHOWN = 20;

export const QUEUE_COMMAND = defineCommand({
  name: "swr-scan-on-push queue",
  summary: "shows and operates the function's shared scan queue (Redis)",
  usage:
    "swr-scan-on-push queue status|flush|retry-dead [--json]   (in a clone: npm run --silent queue -- …)",
  operands: [
    [
      "status",
      "pending, claimed, watched and dead-lettered images, how full the queue is, whether Redis persists it, HSS calls in the current window, and the dead letters with HSS's error",
    ],
    ["flush", "send what the HSS budget allows now, as the timer trigger does"],
    ["retry-dead", "put every dead-lettered image back on the queue"],
  ],
  flags: {
    json: { type: "boolean", default: false, help: "one JSON value instead of text" },
  },
  variables: [
    [
      "SCAN_QUEUE",
      "the function's Redis (redis://… or rediss://…): all that status and retry-dead need",
    ],
    ["SCAN_QUEUE_CA", "CA certificate for rediss:// (optional)"],
    ["QUEUE_TIMEOUT_MS", "bound on each Redis command (1000)"],
    ...HSS_VARIABLES.map(([name, what]): [string, string] => [name, `flush only: ${what}`]),
  ],
  exits: [
    [0, "done"],
    [1, "the queue or HSS failed"],
    [2, "usage or configuration error"],
  ],
});

/** Status and retry-dead touch only Redis: they need no HSS settings. */
const NO_HSS = new Set(["status", "retry-dead"]);

const say = (line: string) => process.stdout.write(`${line}\n`);
const complain = (line: string) => process.stderr.write(`${line}\n`);

export async function runQueue(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const known = (QUEUE_COMMAND.operands ?? []).map(([name]) => name);
  const line = readCommandLine(QUEUE_COMMAND, args, ({ values, positionals }) => {
    const [command, ...extra] = positionals;
    if (!command || !known.includes(command) || extra.length > 0) {
      throw new UsageError(`give one of ${known.join(", ")}`);
    }
    return { command, json: values.json };
  });
  if ("exit" in line) return line.exit;
  const { command, json } = line.options;
  // Without HSS settings, status and retry-dead still work: the endpoint is never called.
  const environment = NO_HSS.has(command ?? "") ? withoutHss(env) : env;
  let queue: ScanQueue | undefined;
  try {
    const config = loadConfig(environment);
    const backend = config.queue.url ? queueBackendOf(config.queue.url) : undefined;
    if (!backend?.shared) {
      complain(
        backend
          ? `SCAN_QUEUE=${backend.name} lives inside one process (npm start, invoke) and cannot be reached from here; set SCAN_QUEUE to the Redis URL the function uses`
          : "no SCAN_QUEUE is set: the function runs in direct mode and keeps no queue; set SCAN_QUEUE to the Redis URL the function uses",
      );
      return 2;
    }
    // Only a shared queue reaches here: it keeps its own budget and memory, shared by all.
    const instance = await openInstance(
      json ? { ...environment, LOG_LEVEL: "error" } : environment,
      {},
    );
    queue = instance.queue;
    if (!queue) return 2;
    const run = invocationOf(instance, {}, (line) => process.stderr.write(`${line}\n`));

    if (command === "status") return await status(instance, queue, json);
    if (command === "retry-dead") {
      const count = await queue.retryDead();
      const alerts = await queue.outbox.retryDead();
      say(
        json
          ? JSON.stringify({ requeued: count, alerts_requeued: alerts })
          : `${count} dead-lettered image(s) queued again${alerts ? `; ${alerts} dead alert(s) to be posted again` : ""}`,
      );
      return 0;
    }
    const {
      accepted: _accepted,
      buried: _buried,
      sent_urls: _sent,
      ...result
    } = await flushQueue({
      ...run.flush(Date.now() + 60_000),
      queue,
    });
    say(
      json
        ? JSON.stringify(result, null, 2)
        : `${result.images_submitted} image(s) submitted in ${result.hss_calls} HSS call(s), ${result.dead_lettered} dead-lettered; stopped: ${result.stopped}${result.retry_after_ms !== undefined ? ` (next call possible in ${Math.ceil(result.retry_after_ms / 1000)} s)` : ""}`,
    );
    return result.stopped === "queue_unavailable" || result.stopped === "refused" ? 1 : 0;
  } catch (error) {
    complain(error instanceof Error ? error.message : String(error));
    return error instanceof ConfigError ? 2 : 1;
  } finally {
    await queue?.close();
  }
}

/** `status`: counts, the scan API's budget now, and the newest dead letters with HSS's error. */
async function status(instance: Instance, queue: ScanQueue, json: boolean): Promise<number> {
  const { config } = instance;
  const [counts, budget, dead, durability, deadAlerts, urls] = await Promise.all([
    queue.counts(),
    queue.budget.check(instance.scanApi.name as Parameters<typeof queue.budget.check>[0]),
    queue.deadLetters(DEAD_LETTERS_SHOWN),
    queue.durability(),
    queue.outbox.dead(DEAD_LETTERS_SHOWN),
    instanceUrlsOf(instance),
  ]);
  const rescan = config.rescan.everyMs > 0 ? await rescanStatus(queue, config.rescan) : undefined;
  const held = counts.pending + counts.claimed;
  const max = counts.max_queued ?? config.queue.maxQueued;
  const status = {
    ...counts,
    max_queued: max,
    full_percent: Math.round((held / max) * 1000) / 10,
    durability,
    dead_letter_retention_days: Math.round(config.queue.deadLetterRetentionMs / 86_400_000),
    calls_in_window: budget.used,
    calls_per_minute: config.hss.callsPerMinute,
    next_call_in_ms: budget.retryAfterMs,
    dead_letters: dead.map((letter) => ({
      image: `${letter.scan.target.namespace}/${letter.scan.target.image_name}:${letter.scan.target.image_version}`,
      instance_id: letter.scan.target.instance_id,
      digest: letter.scan.digest,
      error: letter.error,
      dead_at: new Date(letter.dead_at).toISOString(),
    })),
    dead_alerts: deadAlerts.map((entry) => ({
      channel: entry.channel,
      route: entry.route,
      image: `${entry.alert.namespace}/${entry.alert.repository}:${entry.alert.tags.join(",")}`,
      digest: entry.alert.digest,
      attempts: entry.attempts,
      error: entry.last_error,
    })),
    ...urls,
    ...(rescan ? { rescan } : {}),
  };
  if (json) {
    say(JSON.stringify(status, null, 2));
    return 0;
  }
  say(
    `pending ${counts.pending}, claimed ${counts.claimed}, watched for results ${counts.watched ?? 0}, dead-lettered ${counts.dead_lettered} (kept ${status.dead_letter_retention_days} days)`,
  );
  say(
    `queue ${status.full_percent}% full: ${held} of ${max} images (MAX_QUEUED_IMAGES); beyond it deliveries are refused with 503 and Retry-After`,
  );
  say(`durability: ${durability.persistent ? "" : "NOT durable: "}${durability.detail}`);
  say(
    `HSS ${config.scan.api} calls in the current window: ${budget.used} of ${config.hss.callsPerMinute}${budget.retryAfterMs > 0 ? ` (next call possible in ${Math.ceil(budget.retryAfterMs / 1000)} s)` : ""}`,
  );
  say(
    counts.oldest_age_ms === undefined
      ? "nothing is waiting"
      : `oldest image waiting: ${Math.round(counts.oldest_age_ms / 1000)} s`,
  );
  sayInstanceUrls(urls);
  if (rescan) {
    say(
      `rescans: ${rescan.watched} image(s) in the set, next due ${rescan.next_due_at ?? "—"}; today ${rescan.spent_today} of ${rescan.max_per_day} (RESCAN_MAX_PER_DAY)`,
    );
  }
  sayDead(status, counts);
  return 0;
}

/** The dead letters and dead alerts of a status, as lines. */
function sayDead(
  status: {
    dead_letters: Array<{
      image: string;
      instance_id?: string;
      error?: { error_code?: string; error_msg?: string; hss_request_id?: string };
    }>;
    dead_alerts: Array<{
      image: string;
      channel: string;
      route: string;
      attempts: number;
      error?: { code?: string; message?: string };
    }>;
  },
  counts: { dead_lettered: number; alerts_waiting?: number; alerts_dead?: number },
): void {
  for (const letter of status.dead_letters) {
    say(
      `dead: ${letter.image}${letter.instance_id ? ` (instance ${letter.instance_id})` : ""} — ${letter.error?.error_code ?? "?"}: ${letter.error?.error_msg ?? ""}${letter.error?.hss_request_id ? ` (request id ${letter.error.hss_request_id})` : ""}`,
    );
  }
  if (counts.dead_lettered > status.dead_letters.length) {
    say(`… and ${counts.dead_lettered - status.dead_letters.length} more dead letters`);
  }
  if (counts.alerts_waiting || counts.alerts_dead) {
    say(
      `alerts waiting to be posted ${counts.alerts_waiting ?? 0}, given up ${counts.alerts_dead ?? 0}`,
    );
  }
  for (const alert of status.dead_alerts) {
    say(
      `dead alert: ${alert.image} to ${alert.channel} (route ${alert.route}) after ${alert.attempts} attempt(s) — ${alert.error?.code ?? "?"}: ${alert.error?.message ?? ""}`,
    );
  }
}

/** The instance_url form of each configured instance, and a retired scan API, as lines. */
function sayInstanceUrls(urls: Awaited<ReturnType<typeof instanceUrlsOf>>): void {
  for (const url of urls.instance_urls ?? []) {
    say(`instance ${url.instance_id}: instance_url ${url.form} — ${describeSource(url)}`);
  }
  if (urls.scan_api_retired) {
    const retired = urls.scan_api_retired;
    say(
      `scan API: HSS no longer serves ${retired.api} (since ${retired.since}): sending through ${retired.now_using}; set HSS_SCAN_API=${retired.now_using}`,
    );
  }
}

if (require.main === module) {
  runQueue(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
