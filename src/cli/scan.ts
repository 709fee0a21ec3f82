import { accessSync, constants, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { classifyFailure, type SignedCallError, toSignedCallError } from "../cloud/signed-client";
import { invocationOf, openInstance, watchedCallers } from "../composition-root";
import { type Config, ConfigError } from "../config";
import { startEmbeddedBackendIfUnconfigured } from "../emulator/embedded";
import type { HssEmulator } from "../emulator/hss-emulator";
import { RESCAN_CODES, RESYNC_CODES, scanStateOf } from "../follow-up/follow-up";
import { lookUp, refKey } from "../follow-up/lookup";
import { requestSync } from "../follow-up/sync";
import { AROUND_SCAN_APIS, type AroundScanApi, type HssApiClient } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import { IgnoreFileError, Ignores, loadIgnoreFile } from "../images/ignore-file";
import { type ImageType, targetKey } from "../images/scan-target";
import type { InstanceUrls } from "../instance-urls";
import type { Logger } from "../log";
import { MemoryWatchStore } from "../queue/memory-queue";
import type { ScanQueue } from "../queue/scan-queue";
import { planPushScans, registryHostOf } from "../scan-plan";
import { type ScanSender, sendScan } from "../send-scan";
import { readCommandLine, UsageError } from "./command";
import { FatalHssError, Reachability } from "./hss-reachability";
import { type Options, optionsOf, SCAN_COMMAND } from "./scan-args";
import {
  EXIT,
  exitCodeOf,
  type FoundVulnerability,
  type ImageResult,
  progressRenderer,
  resultOf,
  type Target,
  TERMINAL,
  type Tracked,
} from "./scan-output";
import { REPORT_WRITERS } from "./writers";
import { tableOf } from "./writers/table";

export { parseArgs, parseDuration } from "./scan-args";
export { EXIT, exitCodeOf };

/**
 * `swr-scan-on-push scan <image reference>… [options]` (`npm run scan -- …` in a clone): asks HSS
 * to scan images and, with --wait, waits for the results; for people and for CI after
 * `docker push`. Options, variables and exit statuses: scan-args.ts (`--help`).
 *
 * References are mapped as the function maps pushes: `host/namespace/repo:tag` on an SWR
 * Enterprise registry gets its instance from --instance-id, SWR_INSTANCES or SWR_INSTANCE_ID;
 * on SWR basic (`swr.<region>.myhuaweicloud.com`) it is a `private_image`. Each image is looked up
 * in HSS's list first; one HSS does not list has its registry synced and is scanned once listed;
 * a scan that failed for a reason a new scan fixes (`response_timed_out`) is scanned again, as the
 * function does. Every call takes a slot of its API's budget (HSS_CALLS_PER_MINUTE per
 * HSS_RATE_WINDOW_SECONDS; shared with the function when SCAN_QUEUE names its Redis), so polling
 * never goes over HSS's limit. An error no retry can fix (credentials, a permission, an endpoint
 * that cannot be reached) ends the run at once with its own exit status and a hint. With no
 * HSS_REGION or HSS_ENDPOINT the embedded emulator answers.
 */

/**
 * What a failed call means for the run: HSS unreachable (decided by the watch on every call,
 * hss-reachability.ts), HSS refusing the caller (exit 4), or undefined (go on).
 */
export function fatalOf(
  error: SignedCallError,
  api: AroundScanApi | string,
  reach?: Reachability,
): FatalHssError | undefined {
  if (reach?.fatal) return reach.fatal;
  const call = api in AROUND_SCAN_APIS ? AROUND_SCAN_APIS[api as AroundScanApi] : undefined;
  const what = `${API_NAMES[api] ?? api}${call ? ` (${call.method} ${call.path})` : ""}`;
  const said = `${error.errorCode}${error.httpStatus ? `, HTTP ${error.httpStatus}` : ""}: ${error.message}`;
  if (classifyFailure(error) !== "refused") return undefined;
  if (error.httpStatus === 401 || /^APIGW\.03/.test(error.errorCode)) {
    return new FatalHssError(
      EXIT.refused,
      `HSS refused the credentials (${said}): check CLOUD_SDK_AK and CLOUD_SDK_SK (an access key of an IAM user; a temporary key needs CLOUD_SDK_SECURITY_TOKEN too), that the key is enabled, and that HSS_PROJECT_ID is the project of HSS_REGION`,
      { cause: error },
    );
  }
  return new FatalHssError(
    EXIT.refused,
    `HSS refused to let this IAM user call ${what} (${said}): grant it that action (HSS's system policy HSS FullAccess covers every call this command makes; a read-only policy does not allow scans or syncs), and check HSS_PROJECT_ID and HSS_ENTERPRISE_PROJECT_ID`,
    { cause: error },
  );
}

/** HSS's names of the calls, for hints. */
const API_NAMES: Record<string, string> = {
  "list-images": "ListRegistryImages",
  "list-vulnerabilities": "ListImageVulnerabilities",
  "list-registries": "ListRegistry",
  "sync-task": "CreateImageSynchronizeTask",
  "sync-images": "RunImageSynchronize",
  "list-tasks": "ListImageScanTask",
  "batch-scan": "BatchScanSwrImage",
  "scan-task": "CreateManualImageScanTask",
};

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
  /** Whether HSS answers at all: every call is watched (hss-reachability.ts). */
  reach: Reachability;
  hss: HssApiClient;
  /** The configured scan API, with the budget below: this command waits for syncs itself. */
  sender: ScanSender;
  budget: CallBudget;
  config: Config;
  options: Options;
  marks: { once(key: string, ttlMs: number): Promise<boolean> };
  render: (images: Tracked[], elapsedMs: number, final: boolean, waiting?: string) => void;
  log: Logger;
  /** Learns how HSS records enterprise images' instance_url from what it lists. */
  urls: InstanceUrls;
  /** Set by Ctrl-C: stop waiting, print what is known. */
  interrupted: () => boolean;
  /** Sleeps, or less when interrupted. */
  sleep: (ms: number) => Promise<void>;
}

/** Scans requested again per image at most, for a failure a new scan fixes (as the function). */
const MAX_RESCANS = 2;

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
        urls: run.urls,
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
    const fatal = fatalOf(outcome.error, run.sender.api.name, run.reach);
    if (fatal) throw fatal;
    for (const image of group) {
      image.note = `scan request failed: ${outcome.error.errorCode} ${outcome.error.message}`.slice(
        0,
        160,
      );
      if (outcome.failure === "rejected") image.phase = "failed";
    }
  }
}

/** A scan that ended: done, or (a failure a new scan fixes) scanned again, after a sync if needed. */
function settleEnded(image: Tracked, state: "finished" | "failed", needSync: Tracked[]): void {
  const code = image.item?.scan_failed_code ?? "";
  const rescans = image.rescans ?? 0;
  if (state === "finished" || !RESCAN_CODES.has(code) || rescans >= MAX_RESCANS) {
    image.phase = state;
    return;
  }
  image.rescans = rescans + 1;
  image.note = `HSS's scan failed (${code}): scanning again (${image.rescans} of ${MAX_RESCANS})`;
  image.phase = "looking_up";
  image.item = undefined;
  if (RESYNC_CODES.has(code)) {
    image.phase = "syncing";
    needSync.push(image);
  }
}

/** What a round waits for before the next one: the budget's next slot, or HSS's own 429. */
interface RoundWait {
  retryAfterMs: number;
  /** HSS itself answered 429 (not only this command's budget being spent). */
  throttled: boolean;
}

/** One round: look the open images up, sync what HSS does not list, scan what it does. */
async function round(images: Tracked[], run: Run, deadline: number): Promise<RoundWait> {
  const open = images.filter((image) => !TERMINAL.has(image.phase));
  const lookup = await lookUp(open, { hss: run.hss, budget: run.budget, deadline });
  if (lookup.error) {
    const fatal = fatalOf(lookup.error, "list-images", run.reach);
    if (fatal) throw fatal;
  }
  await run.urls.observe(
    open.flatMap((image) => {
      const item = lookup.found.get(refKey(image));
      return item ? [{ target: image.target, item }] : [];
    }),
  );
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
    if (state === "finished" || state === "failed") settleEnded(image, state, needSync);
  }
  if (needSync.length > 0) {
    await requestSync(needSync, {
      hss: run.hss,
      budget: run.budget,
      marks: run.marks,
      swr: run.config.swr,
      log: run.log,
    });
    if (run.reach.fatal) throw run.reach.fatal;
  }
  await requestScans(images, run);
  if (run.reach.fatal) throw run.reach.fatal;
  if (lookup.error) {
    for (const image of open) image.note ??= `lookup failed: ${lookup.error.errorCode}`;
  }
  return {
    retryAfterMs: lookup.retryAfterMs ?? 0,
    throttled: lookup.error !== undefined && classifyFailure(lookup.error) === "throttled",
  };
}

const SEVERITY_OF_NECESSITY: Record<string, string> = {
  immediate_repair: "high",
  delay_repair: "medium",
  not_needed_repair: "low",
};

/** Every vulnerability HSS lists for a scanned image, waiting for the budget when it must. */
async function vulnerabilitiesOf(image: Tracked, run: Run): Promise<FoundVulnerability[]> {
  const item = image.item;
  if (!item?.image_id || !item.vul_num) return [];
  const found = [];
  for (let offset = 0; offset < 2000 && !run.interrupted(); offset += 200) {
    for (;;) {
      const slot = await run.budget.take("list-vulnerabilities");
      if (slot.granted || run.interrupted()) break;
      await run.sleep(Math.max(1000, slot.retryAfterMs));
    }
    if (run.interrupted()) break;
    const page = await run.hss
      .listImageVulnerabilities(item.image_id, {
        image_type: image.image_type,
        namespace: image.target.namespace,
        image_name: image.target.image_name,
        tag_name: image.target.image_version,
        ...(image.target.instance_id ? { instance_id: image.target.instance_id } : {}),
        offset,
        limit: 200,
      })
      .catch((error: unknown) => {
        const failure = toSignedCallError(error);
        throw fatalOf(failure, "list-vulnerabilities", run.reach) ?? failure;
      });
    found.push(...page.data_list);
    if (page.received < 200 || offset + page.received >= (page.total_num ?? 0)) break;
  }
  return found.map((vul) => ({
    id: vul.vul_id,
    severity: SEVERITY_OF_NECESSITY[vul.repair_necessity ?? ""] ?? vul.repair_necessity ?? "",
    package: vul.app_name ?? "",
    version: vul.version ?? "",
    fix: vul.solution ?? "",
    ...(vul.description ? { description: vul.description } : {}),
    ...(vul.url ? { url: vul.url } : {}),
  }));
}

/** What the run waits for now, on a terminal. */
function waitingFor(images: Tracked[], wait: RoundWait, run: Run): string {
  const seconds = Math.ceil(wait.retryAfterMs / 1000);
  // HSS's rate limit only when HSS said so; otherwise it is this command's own budget.
  if (wait.throttled) return `HSS throttled the calls (429): next call in ${seconds} s`;
  if (wait.retryAfterMs > run.options.pollMs) {
    return `the call budget (HSS_CALLS_PER_MINUTE=${run.config.hss.callsPerMinute}): next call in ${seconds} s`;
  }
  const open = images.filter((image) => !TERMINAL.has(image.phase));
  if (open.some((image) => image.phase === "syncing")) return "waiting for HSS to sync";
  if (open.some((image) => image.phase === "requested")) return "waiting for HSS's scan";
  return "looking up in HSS";
}

/** Rounds until every image has a result, or (without --wait) a request; at most --timeout. */
async function follow(images: Tracked[], run: Run): Promise<void> {
  const { options } = run;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  while (!run.interrupted()) {
    const wait = await round(images, run, deadline);
    const { retryAfterMs } = wait;
    const open = images.filter((image) => !TERMINAL.has(image.phase));
    run.render(
      images,
      Date.now() - started,
      false,
      open.length > 0 ? waitingFor(images, wait, run) : undefined,
    );
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
    await run.sleep(
      Math.min(Math.max(options.pollMs, retryAfterMs), Math.max(0, deadline - Date.now())),
    );
  }
  run.render(images, Date.now() - started, true);
}

/** The findings of scanned images, each marked when the ignore file accepts it. */
async function withFindings(images: Tracked[], results: ImageResult[], run: Run, ignores: Ignores) {
  for (const [index, image] of images.entries()) {
    const result = results[index];
    if (result?.status !== "scanned" || run.interrupted()) continue;
    const found = await vulnerabilitiesOf(image, run);
    for (const finding of found) {
      const name = `${image.target.namespace}/${image.target.image_name}:${image.target.image_version}`;
      const accepted = ignores.find(finding.id, name, finding.package);
      if (accepted) finding.ignored = accepted.reason;
    }
    result.found = found;
  }
}

/**
 * --output, checked before any call to HSS: a report that cannot be written is known at once,
 * not after the whole wait.
 */
export function checkOutput(path: string | undefined): void {
  if (path === undefined) return;
  const full = resolve(path);
  const stat = (file: string) => {
    try {
      return statSync(file);
    } catch {
      return undefined;
    }
  };
  const writable = (file: string) => {
    try {
      accessSync(file, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  const existing = stat(full);
  if (existing?.isDirectory()) throw new UsageError(`--output ${path} is a directory: give a file`);
  if (existing && !writable(full)) throw new UsageError(`--output ${path} is not writable`);
  if (existing) return;
  const directory = dirname(full);
  const parent = stat(directory);
  if (!parent?.isDirectory()) {
    throw new UsageError(`--output ${path}: the directory ${directory} does not exist`);
  }
  if (!writable(directory)) {
    throw new UsageError(`--output ${path}: the directory ${directory} is not writable`);
  }
}

/** The report in the chosen format: to --output, or stdout; the table to stdout besides. */
function report(results: ImageResult[], code: number, options: Options, started: Date): void {
  const writer = REPORT_WRITERS[options.format];
  const rendered = writer.write({
    results,
    exitCode: code,
    startedAt: started,
    endedAt: new Date(),
  });
  if (options.output) {
    try {
      writeFileSync(options.output, rendered);
      if (!writer.forPeople) process.stdout.write(tableOf(results));
      process.stderr.write(`the report (${options.format}) is in ${options.output}\n`);
      return;
    } catch (error) {
      // Checked before the run, gone since (a full disk, a removed directory): not lost.
      process.stderr.write(
        `could not write ${options.output} (${(error as NodeJS.ErrnoException).code ?? "error"}): the report follows on stdout\n`,
      );
    }
  }
  process.stdout.write(rendered);
}

/** The results, the exit status they make, and the report. */
async function answer(images: Tracked[], run: Run, ignores: Ignores, started: Date) {
  const { options } = run;
  const results = images.map(resultOf);
  // Each finding is needed to show it, to write SARIF, or to judge it one by one.
  if (
    options.vulnerabilities ||
    REPORT_WRITERS[options.format].needsFindings ||
    ignores.size > 0 ||
    options.onlyFixed
  ) {
    await withFindings(images, results, run, ignores);
  }
  const code = run.interrupted() ? EXIT.interrupted : exitCodeOf(results, options);
  report(results, code, options, started);
  return code;
}

/** Ctrl-C: the first stops waiting and prints what is known; a second ends at once. */
function interruption() {
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSigint = () => {
    if (interrupted) process.exit(EXIT.interrupted);
    interrupted = true;
    process.stderr.write("\ninterrupted: printing what is known (Ctrl-C again to quit at once)\n");
    wake?.();
  };
  process.on("SIGINT", onSigint);
  return {
    interrupted: () => interrupted,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        if (interrupted) return resolve();
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
    dispose: () => process.off("SIGINT", onSigint),
  };
}

export async function runScan(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const line = readCommandLine(SCAN_COMMAND, args, (parsed) => {
    const options = optionsOf(parsed);
    checkOutput(options.output);
    try {
      return { options, ignores: new Ignores(loadIgnoreFile(options.ignoreFile)) };
    } catch (error) {
      // The file given is part of the command line: a mistake in it is said as a usage error.
      if (!(error instanceof IgnoreFileError)) throw error;
      throw new UsageError(error.message, { cause: error });
    }
  });
  if ("exit" in line) return line.exit;
  const { options, ignores } = line.options;
  for (const entry of ignores.expired) {
    process.stderr.write(
      `warning: the ignore entry for ${entry.id} (line ${entry.line}) expired on ${entry.until}: it counts again\n`,
    );
  }
  const stop = interruption();
  try {
    return await scanImages(options, ignores, env, stop);
  } finally {
    stop.dispose();
  }
}

async function scanImages(
  options: Options,
  ignores: Ignores,
  env: NodeJS.ProcessEnv,
  stop: ReturnType<typeof interruption>,
): Promise<number> {
  let emulator: HssEmulator | undefined;
  let queue: ScanQueue | undefined;
  try {
    emulator = await startEmbeddedBackendIfUnconfigured(
      env,
      (line) => process.stderr.write(`${line}\n`),
      { quiet: true },
    );
    // This command says what it must on stderr; its log shows only warnings and errors. Every
    // HSS call is watched: a run never waits on an endpoint that does not answer.
    // (Clients are built on their first call, once the configuration is read.)
    let reach: Reachability | undefined;
    const instance = await openInstance(
      { ...env, LOG_LEVEL: "warn" },
      {},
      watchedCallers((caller, options) => (reach as Reachability).watch(caller, options.endpoint)),
    );
    const { config } = instance;
    reach = new Reachability({ timeoutMs: config.hss.timeoutMs });
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
      reach,
      hss: await invocation.hss(),
      sender: invocation.scanSender(budget),
      budget,
      config,
      options,
      marks: queue?.watches ?? new MemoryWatchStore(Date.now),
      render: progressRenderer(
        process.stderr,
        REPORT_WRITERS[options.format].forPeople || !!options.output,
      ),
      log: invocation.log,
      urls: invocation.urls,
      interrupted: stop.interrupted,
      sleep: stop.sleep,
    };
    const started = new Date();
    const images: Tracked[] = targets.map((target) => ({ ...target, phase: "looking_up" }));
    await follow(images, run);
    return await answer(images, run, ignores, started);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof FatalHssError) {
      process.stderr.write(`${error.message}\n`);
      return error.exitCode;
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
