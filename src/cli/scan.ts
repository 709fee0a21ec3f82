import { invocationOf, openInstance } from "../composition-root";
import { type Config, ConfigError } from "../config";
import { startEmbeddedBackendIfUnconfigured } from "../emulator/embedded";
import type { HssEmulator } from "../emulator/hss-emulator";
import { ScanOnPushError } from "../errors";
import { scanStateOf } from "../follow-up/follow-up";
import { lookUp, refKey } from "../follow-up/lookup";
import type { MinSeverity } from "../follow-up/notify";
import { requestSync } from "../follow-up/sync";
import type { HssApiClient } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import { type ImageType, targetKey } from "../images/scan-target";
import type { Logger } from "../log";
import { MemoryWatchStore } from "../queue/memory-queue";
import type { ScanQueue } from "../queue/scan-queue";
import { planPushScans, registryHostOf } from "../scan-plan";
import { type ScanSender, sendScan } from "../send-scan";
import {
  EXIT,
  exitCodeOf,
  progressRenderer,
  resultOf,
  type Target,
  TERMINAL,
  type Tracked,
  table,
  vulnerabilityTable,
} from "./scan-output";

export { EXIT, exitCodeOf };

/**
 * `npm run scan -- <image reference>… [--wait] [--fail-on high|medium|low] [--timeout 15m]
 * [--json] [--vulnerabilities] [--instance-id <id>] [--poll 5s]`: asks HSS to scan images and,
 * with --wait, waits for the results; for people and for CI after `docker push`.
 *
 * References are mapped as the function maps pushes: `host/namespace/repo:tag` on an SWR
 * Enterprise registry gets its instance from --instance-id, SWR_INSTANCES or SWR_INSTANCE_ID;
 * on SWR basic (`swr.<region>.myhuaweicloud.com`) it is a `private_image`. Each image is looked up
 * in HSS's list first; one HSS does not list has its registry synced and is scanned once listed.
 * Every call takes a slot of its API's budget (HSS_CALLS_PER_MINUTE per HSS_RATE_WINDOW_SECONDS;
 * shared with the function when SCAN_QUEUE names its Redis), so polling never goes over HSS's
 * limit. With no HSS_REGION or HSS_ENDPOINT the embedded emulator answers.
 *
 * Exit status: 0 scanned and clean (or submitted, without --wait); 1 findings at or above
 * --fail-on; 2 usage or configuration error; 3 a scan failed, or did not finish in time.
 */

const USAGE = `usage: npm run --silent scan -- <image reference>… [options]
  <image reference>      host/namespace/repository:tag (an SWR Enterprise or SWR basic registry)
  --wait                 wait until HSS reports a result for every image
  --fail-on <severity>   exit 1 when an image has findings at or above high | medium | low
  --timeout <duration>   give up waiting after this long (default 15m; e.g. 90s, 10m, 1h)
  --poll <duration>      check HSS at most this often (default 5s; never faster than the budget)
  --vulnerabilities      list each image's vulnerabilities (id, severity, package, version, fix)
  --instance-id <id>     the SWR Enterprise instance of every reference
  --json                 print one JSON document instead of the table`;

interface Options {
  references: string[];
  wait: boolean;
  failOn?: MinSeverity;
  timeoutMs: number;
  pollMs: number;
  vulnerabilities: boolean;
  instanceId?: string;
  json: boolean;
}

class UsageError extends ScanOnPushError {}

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`not a duration: ${text} (use e.g. 90s, 15m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] ?? 1000;
  return Math.round(Number(match[1]) * unit);
}

export function parseArgs(args: string[]): Options {
  const options: Options = {
    references: [],
    wait: false,
    timeoutMs: 15 * 60_000,
    pollMs: 5000,
    vulnerabilities: false,
    json: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = () => {
      const next = args[++i];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === "--wait") options.wait = true;
    else if (arg === "--json") options.json = true;
    else if (arg === "--vulnerabilities" || arg === "--vulns") options.vulnerabilities = true;
    else if (arg === "--fail-on") {
      const severity = value();
      if (severity !== "high" && severity !== "medium" && severity !== "low") {
        throw new UsageError(`--fail-on takes high, medium or low (got ${severity})`);
      }
      options.failOn = severity;
    } else if (arg === "--timeout") options.timeoutMs = parseDuration(value());
    else if (arg === "--poll") options.pollMs = Math.max(1000, parseDuration(value()));
    else if (arg === "--instance-id") options.instanceId = value();
    else if (arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    else options.references.push(arg);
  }
  if (options.references.length === 0) throw new UsageError("no image reference given");
  if (options.failOn && !options.wait) throw new UsageError("--fail-on needs --wait");
  return options;
}

const SWR_BASIC_HOST = /^swr\.[a-z0-9-]+\.myhuaweicloud\.(com|eu|cn)$/;

export function mapReferences(
  references: string[],
  swr: Config["swr"],
  instanceId: string | undefined,
): Target[] {
  const targets: Target[] = [];
  for (const reference of references) {
    if (reference.includes("@")) {
      throw new UsageError(
        `${reference}: HSS scans images by tag; give host/namespace/repository:tag`,
      );
    }
    const host = registryHostOf(reference);
    const path = host ? reference.slice(host.length + 1) : reference;
    const colon = path.lastIndexOf(":");
    const repository = colon > 0 ? path.slice(0, colon) : path;
    const tag = colon > 0 ? path.slice(colon + 1) : "";
    const namespace = repository.split("/")[0] ?? "";
    if (!host || !tag || !repository.includes("/")) {
      throw new UsageError(`${reference}: expected host/namespace/repository:tag`);
    }
    if (SWR_BASIC_HOST.test(host) && !instanceId) {
      targets.push({
        reference,
        image_type: "private_image",
        target: {
          namespace,
          image_name: repository.slice(namespace.length + 1),
          image_version: tag,
        },
      });
      continue;
    }
    const plan = planPushScans([{ namespace, repository, tag, resourceUrl: reference }], {
      swr,
      queryInstanceId: instanceId,
    });
    const [skipped] = plan.skipped;
    if (skipped) throw new UsageError(`${reference}: ${skipped.reason}`);
    if (plan.unmapped) {
      throw new UsageError(
        `${reference}: no SWR Enterprise instance for registry ${host}: give --instance-id, or set SWR_INSTANCES ({"${host}": "<instance id>"}) or SWR_INSTANCE_ID`,
      );
    }
    for (const target of plan.targets)
      targets.push({ reference, image_type: plan.imageType, target });
  }
  return targets;
}

interface Run {
  hss: HssApiClient;
  /** The configured scan API, with the budget below: this command waits for syncs itself. */
  sender: ScanSender;
  budget: CallBudget;
  config: Config;
  options: Options;
  marks: { once(key: string, ttlMs: number): Promise<boolean> };
  render: (images: Tracked[], elapsedMs: number, final: boolean) => void;
  log: Logger;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asks HSS to scan the listed images that have no request yet, with one call of the scan API. */
async function requestScans(images: Tracked[], run: Run): Promise<void> {
  const due = images.filter((image) => image.phase === "looking_up" && image.item);
  const byType = new Map<ImageType, Tracked[]>();
  for (const image of due)
    byType.set(image.image_type, [...(byType.get(image.image_type) ?? []), image]);
  for (const [imageType, group] of byType) {
    const listed = new Map(group.map((image) => [targetKey(image.target), image.item]));
    const now = Date.now();
    const outcome = await sendScan(
      run.sender,
      { image_type: imageType, image_info_list: group.map((image) => image.target) },
      {
        timeoutMs: run.config.hss.timeoutMs,
        listed: (target) => listed.get(targetKey(target)) ?? undefined,
      },
    );
    if (outcome.kind === "no_slot") return;
    if (outcome.kind !== "failed") {
      for (const image of group) {
        image.phase = "requested";
        image.requestedAt = now;
        image.note = undefined;
      }
      continue;
    }
    const { error, failure } = outcome;
    for (const image of group) {
      image.note = `scan request failed: ${error.errorCode} ${error.message}`.slice(0, 160);
      if (failure === "rejected" || failure === "refused") image.phase = "failed";
    }
  }
}

/** One round: look the open images up, sync what HSS does not list, scan what it does. */
async function round(images: Tracked[], run: Run, deadline: number): Promise<number> {
  const open = images.filter((image) => !TERMINAL.has(image.phase));
  const lookup = await lookUp(open, { hss: run.hss, budget: run.budget, deadline });
  const needSync: Tracked[] = [];
  for (const image of open) {
    const key = refKey(image);
    if (!lookup.found.has(key)) continue;
    const item = lookup.found.get(key) ?? null;
    if (item === null) {
      image.phase = "syncing";
      image.note = "HSS does not list it yet: its registry is being synced";
      needSync.push(image);
      continue;
    }
    image.item = item;
    image.hssStatus = item.scan_status ?? undefined;
    if (image.phase === "syncing" || image.phase === "looking_up") {
      image.phase = "looking_up";
      continue;
    }
    const state = scanStateOf(item, image.requestedAt ?? 0);
    if (state === "finished") image.phase = "finished";
    else if (state === "failed") image.phase = "failed";
  }
  if (needSync.length > 0) {
    await requestSync(needSync, {
      hss: run.hss,
      budget: run.budget,
      marks: run.marks,
      swr: run.config.swr,
      log: run.log,
    });
  }
  await requestScans(images, run);
  if (lookup.error) {
    for (const image of open) image.note ??= `lookup failed: ${lookup.error.errorCode}`;
  }
  return lookup.retryAfterMs ?? 0;
}

const SEVERITY_OF_NECESSITY: Record<string, string> = {
  immediate_repair: "high",
  delay_repair: "medium",
  not_needed_repair: "low",
};

async function vulnerabilitiesOf(image: Tracked, run: Run) {
  const item = image.item;
  if (!item?.image_id || !item.vul_num) return [];
  const found = [];
  for (let offset = 0; offset < 2000; offset += 200) {
    for (;;) {
      const slot = await run.budget.take("list-vulnerabilities");
      if (slot.granted) break;
      await sleep(Math.max(1000, slot.retryAfterMs));
    }
    const page = await run.hss.listImageVulnerabilities(item.image_id, {
      image_type: image.image_type,
      namespace: image.target.namespace,
      image_name: image.target.image_name,
      tag_name: image.target.image_version,
      ...(image.target.instance_id ? { instance_id: image.target.instance_id } : {}),
      offset,
      limit: 200,
    });
    found.push(...page.data_list);
    if (page.data_list.length < 200 || found.length >= (page.total_num ?? 0)) break;
  }
  return found.map((vul) => ({
    id: vul.vul_id,
    severity: SEVERITY_OF_NECESSITY[vul.repair_necessity ?? ""] ?? vul.repair_necessity ?? "",
    package: vul.app_name ?? "",
    version: vul.version ?? "",
    fix: vul.solution ?? "",
  }));
}

/** Rounds until every image has a result, or (without --wait) a request; at most --timeout. */
async function follow(images: Tracked[], run: Run): Promise<void> {
  const { options } = run;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  for (;;) {
    const retryAfterMs = await round(images, run, deadline);
    run.render(images, Date.now() - started, false);
    const open = images.filter((image) => !TERMINAL.has(image.phase));
    if (open.length === 0) break;
    // Without --wait: done once every image is submitted (after a sync where one was needed).
    if (!options.wait && open.every((image) => image.phase === "requested")) break;
    if (Date.now() >= deadline) {
      for (const image of open) {
        image.phase = "timed_out";
        image.note ??= `no result within ${Math.round(options.timeoutMs / 1000)} s (--timeout)`;
      }
      break;
    }
    await sleep(
      Math.min(Math.max(options.pollMs, retryAfterMs), Math.max(0, deadline - Date.now())),
    );
  }
  run.render(images, Date.now() - started, true);
}

/** The results on stdout (a table, or JSON), and the exit status they make. */
async function answer(images: Tracked[], run: Run): Promise<number> {
  const { options } = run;
  const results = images.map(resultOf);
  if (options.vulnerabilities) {
    for (const [index, image] of images.entries()) {
      const result = results[index];
      if (result?.status === "scanned") result.found = await vulnerabilitiesOf(image, run);
    }
  }
  const code = exitCodeOf(results, options);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ images: results, exit_code: code }, null, 2)}\n`);
    return code;
  }
  process.stdout.write(`${table(results)}\n`);
  for (const result of results) {
    if (!result.found?.length) continue;
    process.stdout.write(`\n${result.image}\n`);
    process.stdout.write(`${vulnerabilityTable(result.found)}\n`);
  }
  return code;
}

export async function runScan(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(args);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  let emulator: HssEmulator | undefined;
  let queue: ScanQueue | undefined;
  try {
    emulator = await startEmbeddedBackendIfUnconfigured(
      env,
      (line) => process.stderr.write(`${line}\n`),
      { quiet: true },
    );
    // This command says what it must on stderr; its log shows only warnings and errors.
    const instance = await openInstance({ ...env, LOG_LEVEL: "warn" }, {});
    const { config } = instance;
    const targets = mapReferences(options.references, config.swr, options.instanceId);
    if (!config.credentials)
      throw new ConfigError("set CLOUD_SDK_AK and CLOUD_SDK_SK (an IAM user with HSS permissions)");
    if (!config.hss.projectId)
      throw new ConfigError("HSS_PROJECT_ID: set it to the project id of the HSS region");
    // With the function's Redis, its budget is shared: this command and the function together
    // stay within HSS's limit. An in-process queue is this command's own.
    queue = instance.queue;
    const budget = queue?.budget ?? instance.own.budget;
    const invocation = invocationOf(instance, {}, (line) => process.stderr.write(`${line}\n`));
    // The embedded emulator has no registry to tell it what was pushed: these images were.
    for (const { image_type, target } of targets) {
      emulator?.push({ image_type, ...target, host: registryHostOf(target.instance_url) });
    }
    const run: Run = {
      hss: await invocation.hss(),
      sender: invocation.scanSender(budget),
      budget,
      config,
      options,
      marks: queue?.watches ?? new MemoryWatchStore(Date.now),
      render: progressRenderer(process.stderr, !options.json),
      log: invocation.log,
    };
    const images: Tracked[] = targets.map((target) => ({ ...target, phase: "looking_up" }));
    await follow(images, run);
    return await answer(images, run);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  } finally {
    await queue?.close();
    await emulator?.close();
  }
}

if (require.main === module) {
  runScan(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: Error) => {
      process.stderr.write(`scan failed: ${error.message}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
