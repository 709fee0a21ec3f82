import { type Instance, invocationOf, openInstance } from "../composition-root";
import { ConfigError, loadConfig } from "../config";
import { scheduledFlush } from "../flush/scheduled";
import { queueBackendOf } from "../queue/backends";
import type { ScanQueue } from "../queue/scan-queue";
import { type RescanPass, rescanStatus } from "../rescan/rescan-set";
import {
  defineCommand,
  HSS_VARIABLES,
  noOperands,
  readCommandLine,
  UsageError,
  withoutHss,
} from "./command";

/**
 * `swr-scan-on-push rescan --dry-run | --now`: the re-evaluation of images already pushed
 * (RESCAN_*), with the function's own configuration and its Redis queue:
 *   --dry-run  which images a pass would queue now and why, the day's spend against the cap, and
 *              the scan API's budget; nothing is changed
 *   --now      one pass now, every image of the set (not only the due ones) within the day's cap,
 *              through the queue and its budget, then flushes and follows the rescans to their
 *              results (at most --wait seconds) and prints what was asked and what new findings
 *              were alerted
 */

export const RESCAN_COMMAND = defineCommand({
  name: "swr-scan-on-push rescan",
  summary: "re-evaluates images already pushed: what a pass would rescan, or one pass now",
  usage: "swr-scan-on-push rescan --dry-run|--now [--wait <s>] [--json]",
  flags: {
    "dry-run": {
      type: "boolean",
      default: false,
      help: "which images a pass would queue now, and why; the cap and the budget",
    },
    now: {
      type: "boolean",
      default: false,
      help: "one pass now over the whole set, within the day's cap; followed to its results",
    },
    wait: {
      type: "string",
      default: "300",
      value: "<s>",
      help: "with --now: how long to follow the rescans (300)",
    },
    json: { type: "boolean", default: false, help: "one JSON value instead of text" },
  },
  variables: [
    ["SCAN_QUEUE", "the function's Redis (redis://… or rediss://…)"],
    ["RESCAN_EVERY_DAYS", "on when above 0: how often each image of the set is rescanned"],
    ["RESCAN_MAX_PER_DAY", "rescans a day at most, across instances (500)"],
    ...HSS_VARIABLES.map(([name, what]): [string, string] => [name, `--now only: ${what}`]),
  ],
  exits: [
    [0, "done"],
    [1, "the queue or HSS failed"],
    [2, "usage or configuration error"],
  ],
});

const say = (line: string) => process.stdout.write(`${line}\n`);
const complain = (line: string) => process.stderr.write(`${line}\n`);

export async function runRescan(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const line = readCommandLine(RESCAN_COMMAND, args, ({ values, positionals }) => {
    noOperands(positionals);
    if (values["dry-run"] === values.now) throw new UsageError("give --dry-run or --now");
    const waitSeconds = Number(values.wait);
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0) {
      throw new UsageError(`--wait takes seconds (got ${values.wait})`);
    }
    return { json: values.json, dryRun: values["dry-run"], waitSeconds };
  });
  if ("exit" in line) return line.exit;
  const { json, dryRun, waitSeconds } = line.options;
  let queue: ScanQueue | undefined;
  try {
    const environment = dryRun ? withoutHss(env) : env;
    const config = loadConfig(environment);
    const shared = config.queue.url ? queueBackendOf(config.queue.url).shared : false;
    if (!shared || config.rescan.everyMs <= 0) {
      complain(
        config.rescan.everyMs <= 0
          ? "rescans are off: set RESCAN_EVERY_DAYS (and the other RESCAN_* settings) as the function has them"
          : "set SCAN_QUEUE to the Redis URL the function uses: the set of images to rescan is kept there",
      );
      return 2;
    }
    const instance = await openInstance({ ...environment, LOG_LEVEL: "info" }, {});
    queue = instance.queue;
    if (!queue) return 2;
    if (dryRun) return await preview(instance, queue, json);
    return await passNow(instance, queue, { json, waitMs: waitSeconds * 1000 });
  } catch (error) {
    complain(error instanceof Error ? error.message : String(error));
    return error instanceof ConfigError ? 2 : 1;
  } finally {
    await queue?.close();
  }
}

/** The set, the day's spend against the cap, and what the scan API's budget allows now. */
async function spending(instance: Instance, queue: ScanQueue) {
  const { config } = instance;
  const [status, budget] = await Promise.all([
    rescanStatus(queue, config.rescan),
    queue.budget.check(instance.scanApi.name as Parameters<typeof queue.budget.check>[0]),
  ]);
  return {
    ...status,
    calls_in_window: budget.used,
    calls_per_minute: config.hss.callsPerMinute,
  };
}

async function preview(instance: Instance, queue: ScanQueue, json: boolean): Promise<number> {
  const { rescan } = instance.config;
  const spend = await spending(instance, queue);
  const room = Math.max(0, spend.max_per_day - spend.spent_today);
  const due = await queue.rescans.peekDue(Math.min(room, 1000));
  const now = Date.now();
  const images = due.map((entry) => {
    const expired = now - entry.pushed_at > rescan.withinMs;
    return {
      image: `${entry.target.namespace}/${entry.target.image_name}:${entry.target.image_version}`,
      ...(entry.target.instance_id ? { instance_id: entry.target.instance_id } : {}),
      action: expired ? "leaves the set" : "rescan",
      why: expired
        ? `last pushed ${days(now - entry.pushed_at)} ago (RESCAN_WITHIN_DAYS=${rescan.withinMs / 86_400_000})`
        : entry.rescanned_at
          ? `last rescanned ${days(now - entry.rescanned_at)} ago (RESCAN_EVERY_DAYS=${rescan.everyMs / 86_400_000})`
          : `pushed ${days(now - entry.pushed_at)} ago, not rescanned yet`,
    };
  });
  const summary = { ...spend, due_now: images.length, images };
  const size = spend.watched;
  if (json) {
    say(JSON.stringify(summary, null, 2));
    return 0;
  }
  say(
    `${size} image(s) in the rescan set; ${images.length} would be rescanned now (today ${spend.spent_today} of ${spend.max_per_day}, RESCAN_MAX_PER_DAY)`,
  );
  say(
    `HSS ${instance.scanApi.name} calls in the current window: ${spend.calls_in_window} of ${spend.calls_per_minute}; rescans go after what pushes queued`,
  );
  for (const image of images) say(`${image.action}: ${image.image} — ${image.why}`);
  if (images.length === 0 && spend.next_due_at) say(`next image due at ${spend.next_due_at}`);
  return 0;
}

const days = (ms: number) => `${Math.floor(ms / 86_400_000)} day(s)`;

/** One forced pass, then flushes (and follow-ups) until the rescans are followed or time is up. */
async function passNow(
  instance: Instance,
  queue: ScanQueue,
  options: { json: boolean; waitMs: number },
): Promise<number> {
  const events: Array<Record<string, unknown>> = [];
  const run = invocationOf(instance, {}, (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    if (event.level === "warn" || event.level === "error") process.stderr.write(`${line}\n`);
  });
  const pass = (await run.rescan?.(queue, true)) as RescanPass;
  const until = Date.now() + options.waitMs;
  const followed = () => events.filter((event) => event.event === "rescan_finished").length;
  while (Date.now() < until && followed() < pass.queued) {
    await scheduledFlush(queue, {
      flush: run.flush(Math.min(until, Date.now() + 60_000)),
      followUp: run.followUp,
      dryRun: false,
    });
    if (followed() < pass.queued) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return report(pass, events, options.json);
}

function report(pass: RescanPass, events: Array<Record<string, unknown>>, json: boolean): number {
  const of = (name: string) => events.filter((event) => event.event === name);
  const finished = of("rescan_finished");
  const withNew = finished.filter((event) => (event.new as unknown[] | undefined)?.length);
  const calls: Record<string, number> = {};
  for (const event of of("flush_done")) {
    const flush = event as {
      hss_calls?: number;
      list_calls?: number;
      follow_up?: { list_calls?: number };
    };
    calls.scan = (calls.scan ?? 0) + (flush.hss_calls ?? 0);
    calls.list = (calls.list ?? 0) + (flush.follow_up?.list_calls ?? 0) + (flush.list_calls ?? 0);
  }
  const summary = {
    ...pass,
    followed: finished.length,
    new_findings: withNew.map((event) => ({ image: event.image, new: event.new })),
    alerts_queued: of("alert_queued").filter((event) => event.kind === "new_vulnerabilities")
      .length,
    hss_calls: calls,
  };
  if (json) {
    say(JSON.stringify(summary, null, 2));
    return 0;
  }
  say(
    `queued ${pass.queued} rescan(s) (today ${pass.spent_today} of ${pass.max_per_day}); ${pass.expired} left the set; ${finished.length} followed to their result`,
  );
  say(`HSS calls: ${calls.scan ?? 0} scan, ${calls.list ?? 0} list`);
  for (const event of withNew) {
    say(`new: ${String(event.image)} — ${(event.new as string[]).join(", ")}`);
  }
  say(
    withNew.length === 0
      ? "nothing new: no alert"
      : `${withNew.length} image(s) with new vulnerabilities; ${summary.alerts_queued} alert(s) queued for the channels`,
  );
  return 0;
}

if (require.main === module) {
  runRescan(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
