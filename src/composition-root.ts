import type { CloudTarget, SignedCaller } from "./cloud/request";
import { createSignedClient, type SignedClientOptions } from "./cloud/signed-client";
import { CONFIG_VARIABLES, type Config, ConfigError, type Credentials, loadConfig } from "./config";
import type { FlushSettings, SendingScanSender } from "./flush/claims";
import type { FollowUpSettings } from "./follow-up/follow-up";
import type { HssApiClient } from "./hss/apis";
import { type CallBudget, MemoryCallBudget } from "./hss/call-budget";
import { Ignores } from "./images/ignore-file";
import {
  configuredInstanceIds,
  type FormStore,
  InstanceUrls,
  instanceUrlStatus,
} from "./instance-urls";
import type { IntakeDependencies } from "./intake";
import { createLogger, firstTimes, type Logger, secretScrubber } from "./log";
import type { Notifier } from "./notify/notifier";
import {
  agencyCredentialsOf,
  deadlineOf,
  type PlatformContext,
  projectIdOf,
  requestIdOf,
  variablesOf,
} from "./platform-context";
import { openQueue, queueBackendNameOf } from "./queue/backends";
import type { MemoryWatchStore } from "./queue/memory-queue";
import type { ScanQueue } from "./queue/scan-queue";
import type { SetupSummary } from "./report";
import { NewFindings } from "./rescan/new-findings";
import type { RescanPass } from "./rescan/rescan-set";
import { directApiOf, SCAN_APIS, type ScanApi } from "./scan-apis";
import { SubmittedImages } from "./submitted-images";
import type { WiringState, WiringSummary } from "./wiring/scheduled";

/**
 * The one place that builds what the function works with: per warm instance, the configuration
 * (read once), the scan API it names, the queue, this instance's own call budget and memory of
 * submitted images, and the signed-call clients (HSS, SWR, SMN) per target and credentials; per
 * invocation, the logger with every secret to scrub, the deadline, the senders of scan requests,
 * the calls around a scan and the settings each step takes. Everything else receives what it
 * needs from here; tests pass fakes through the same seam (`createCaller`).
 */

export type CallerFactory = (options: SignedClientOptions) => SignedCaller;

/**
 * The signed-call clients this root builds, each handed to `watch` before use (the CI gate watches
 * every HSS call for an endpoint that does not answer).
 */
export function watchedCallers(
  watch: (caller: SignedCaller, options: SignedClientOptions) => SignedCaller,
): CallerFactory {
  return (options) => watch(createSignedClient(options), options);
}

/** What a warm instance keeps between invocations. */
export interface Instance {
  config: Config;
  scanApi: ScanApi;
  /** The scan queue (SCAN_QUEUE); undefined in direct mode. */
  queue?: ScanQueue;
  /**
   * This instance's own call budget and memory of submitted images: direct mode's, and the
   * fallback when the queue cannot be reached.
   */
  own: { budget: CallBudget; submitted: SubmittedImages };
  /**
   * Where forms of instance_url learned from HSS are kept (src/instance-urls.ts): the queue's
   * store, shared by every instance; this instance's memory without a queue.
   */
  formStore: FormStore;
  /** True the first time a key is asked about in this instance: what is said once per instance. */
  firstTime(key: string): boolean;
  /**
   * The signed-call client for this target (HSS, SWR, SMN) and these credentials, kept while they
   * stay the same (agency keys rotate). The only place clients are built.
   */
  callerFor(credentials: Credentials, target: CloudTarget): SignedCaller;
  /** This instance's own store of marks and forms when there is no queue, loaded when first used. */
  ownStore(): Promise<MemoryWatchStore>;
  /** What this instance last said, and until when (said once per wait). */
  said: Map<string, number>;
  /** The scheduled wiring's state in this instance (its SWR budget, an unfinished run). */
  wiring: WiringState;
  /**
   * Reads the Redis queue's persistence once per instance (until it answers) and warns when a
   * restart of Redis would lose what is queued. Never rejects.
   */
  checkQueueOnce(log: Logger): Promise<void>;
}

export async function openInstance(
  env: NodeJS.ProcessEnv,
  context: PlatformContext,
  createCaller: CallerFactory = createSignedClient,
): Promise<Instance> {
  const config = loadConfig(variablesOf(env, context, CONFIG_VARIABLES));
  const own = {
    budget: new MemoryCallBudget(config.hss.callsPerMinute, config.hss.rateWindowMs),
    submitted: new SubmittedImages(config.dedupe.windowMs, config.dedupe.maxImages),
  };
  // One client per target and credentials (HSS, SWR, SMN; agency keys rotate): a few at most.
  const callers = new Map<string, SignedCaller>();
  let ownStore: Promise<MemoryWatchStore> | undefined;
  const openOwnStore = () => {
    ownStore ??= import("./queue/memory-queue").then(
      ({ MemoryWatchStore }) => new MemoryWatchStore(Date.now),
    );
    return ownStore;
  };
  const queue = await openQueue(config, own);
  let queueChecked = !queue?.probesDurability;
  return {
    config,
    scanApi: SCAN_APIS[config.scan.api],
    queue,
    own,
    formStore: queue?.watches ?? ownFormStore(openOwnStore),
    firstTime: firstTimes(),
    async checkQueueOnce(log) {
      if (queueChecked || !queue) return;
      queueChecked = true;
      try {
        const durability = await queue.durability();
        if (!durability.persistent) log.warn("queue_not_durable", { ...durability });
      } catch {
        // Not reachable now: intake and the flusher say so; the check runs again next time.
        queueChecked = false;
      }
    },
    callerFor(credentials, target) {
      const key = JSON.stringify([credentials, target]);
      let caller = callers.get(key);
      if (!caller) {
        if (callers.size >= 8) callers.clear();
        caller = createCaller({ ...target, credentials });
        callers.set(key, caller);
      }
      return caller;
    },
    ownStore: openOwnStore,
    said: new Map(),
    wiring: {},
  };
}

/**
 * What one invocation works with: intake's dependencies (intake.ts), with the deadline chosen by
 * the kind of delivery, and the instance they were built from.
 */
export interface Invocation
  extends Omit<IntakeDependencies, "deadline" | "queue" | "own" | "scanApi" | "followUp"> {
  instance: Instance;
  /** The epoch ms by which every call must have ended: HTTP deliveries answer sooner. */
  deadline: (kind: "http" | "direct" | "schedule") => number;
  followUp?: {
    settings: FollowUpSettings;
    notifier: (queue: ScanQueue) => Promise<Notifier | undefined>;
    /** With RESCAN_*: what is new in each finished scan's digest. */
    findings?: (queue: ScanQueue) => NewFindings;
  };
  /**
   * With RESCAN_*: one rescan pass (the scheduled flush runs one after the follow-up, a batch at a
   * time; `force`: every image of the set now, within the day's cap: `rescan --now`).
   */
  rescan?: (queue: ScanQueue, force?: boolean) => Promise<RescanPass>;
  /** With SWR_WIRE_INSTANCES: keeps SWR Enterprise's triggers wired (src/wiring/scheduled.ts). */
  keepWired?: (deadline: number) => Promise<WiringSummary | undefined>;
}

export function invocationOf(
  instance: Instance,
  context: PlatformContext,
  writeLog?: (line: string) => void,
): Invocation {
  const { config, scanApi } = instance;
  const requestId = requestIdOf(context);
  const access = hssAccessOf(instance, context);
  const log = createLogger({
    level: config.logLevel,
    requestId,
    secrets: [...config.secrets, ...valuesOf(access.credentials)],
    write: writeLog,
  });
  const send = (api: ScanApi, budget: CallBudget): SendingScanSender => ({
    mode: "send",
    api,
    settings: config.scan,
    caller: access.caller(),
    budget,
    firstTime: instance.firstTime,
  });
  const hss = async (timeoutMs = config.hss.timeoutMs) => {
    const { hssApiClient } = await import("./hss/apis");
    const caller = access.caller();
    return hssApiClient({ caller, timeoutMs: Math.min(timeoutMs, config.hss.timeoutMs), log });
  };
  const notifier = (queue: ScanQueue) =>
    notifierOf(config, access, instance.callerFor, queue, hss, log);
  const rescans = rescansOf(config, hss, notifier, log);
  // One per invocation: the forms it reads are read once, and what it learns it uses at once.
  const urls = new InstanceUrls(instance.formStore, config.swr, log, instance.firstTime);
  return {
    instance,
    config,
    log,
    requestId,
    deadline: (kind) =>
      deadlineOf(context, {
        marginMs: config.deadline.marginMs,
        httpMs: kind === "http" ? config.deadline.httpMs : undefined,
      }),
    scanSender: (budget) => send(scanApi, budget),
    directSender: (budget) => send(directApiOf(scanApi), budget),
    previewSender: () => ({
      mode: "preview",
      api: scanApi,
      settings: config.scan,
      // A dry run needs no project id either: the preview shows where it would go.
      target: targetOf(config, access.projectId ?? "{project_id}"),
    }),
    hss,
    urls,
    flush: (deadline) => ({
      sender: () => send(scanApi, queueOf(instance).budget),
      hss: () => hss(),
      urls,
      settings: flushSettingsOf(config),
      said: instance.said,
      deadline,
      log,
    }),
    followUp: config.followUp.enabled
      ? { settings: followUpSettingsOf(config), notifier, ...rescans?.followUp }
      : undefined,
    ...(rescans ? { rescan: rescans.pass } : {}),
    ...(config.wiring.instances.length > 0
      ? { keepWired: (deadline: number) => keepWiredNow(instance, access, log, deadline) }
      : {}),
    describeSetup: () => describeSetup(instance, context),
  };
}

/**
 * With RESCAN_*: what is new in each finished scan's digest (its state beside the queue), and one
 * rescan pass; undefined when rescans are off.
 */
function rescansOf(
  config: Config,
  hss: () => Promise<HssApiClient>,
  notifier: (queue: ScanQueue) => Promise<Notifier | undefined>,
  log: Logger,
) {
  if (config.rescan.everyMs <= 0 || !config.followUp.enabled) return undefined;
  const ignores = new Ignores(config.notify.ignore);
  const findings = (queue: ScanQueue) =>
    new NewFindings({
      store: queue.watches,
      ignores,
      ttlMs: config.rescan.withinMs,
      reportFixed: config.rescan.reportFixed,
      budget: queue.budget,
      hss,
      log,
    });
  const pass = async (queue: ScanQueue, force = false) => {
    const [{ rescanPass }, { announceEndingExceptions }, { importFromHss }] = await Promise.all([
      import("./rescan/rescan-set"),
      import("./rescan/exceptions"),
      import("./rescan/import"),
    ]);
    if (config.rescan.fromHss) await importFromHss({ queue, hss, settings: config.rescan, log });
    if (ignores.size > 0) {
      await announceEndingExceptions({
        ignores,
        store: queue.watches,
        notifier: await notifier(queue),
        log,
      });
    }
    return rescanPass({
      queue,
      settings: config.rescan,
      dedupeWindowMs: config.dedupe.windowMs,
      limit: force ? config.rescan.maxPerDay : config.hss.batchSize,
      force,
      log,
    });
  };
  return { followUp: { findings }, pass };
}

/**
 * SMN's signed-call client, when SMN channels can be published to (SMN's endpoint, credentials
 * and a project): the notifier's and `notify --test`'s.
 */
export function smnCallerOf(
  config: Config,
  access: { credentials?: Credentials; projectId?: string },
  callerFor: Instance["callerFor"] = (credentials, target) =>
    createSignedClient({ ...target, credentials }),
): SignedCaller | undefined {
  const endpoint = config.notify.smnEndpoint;
  if (!endpoint || !access.credentials || !access.projectId) return undefined;
  return callerFor(access.credentials, {
    endpoint,
    region: config.hss.region,
    projectId: access.projectId,
  });
}

/**
 * SWR's signed-call client for the wiring command (`wire`), which opens no instance; undefined
 * without SWR's endpoint, credentials or a project.
 */
export function swrCallerOf(config: Config): SignedCaller | undefined {
  const { endpoint } = config.wiring;
  if (!endpoint || !config.credentials || !config.hss.projectId) return undefined;
  return createSignedClient({
    endpoint,
    region: config.hss.region,
    projectId: config.hss.projectId,
    credentials: config.credentials,
  });
}

/** The notifier of this invocation (its outbox in the queue's store); none without channels. */
async function notifierOf(
  config: Config,
  access: { credentials?: Credentials; projectId?: string },
  callerFor: Instance["callerFor"],
  queue: ScanQueue,
  hss: () => Promise<HssApiClient>,
  log: Logger,
): Promise<Notifier | undefined> {
  const { notify } = config;
  if (notify.channels.length === 0) return undefined;
  const { createNotifier, sendContextOf } = await import("./notify/notifier");
  return createNotifier({
    settings: {
      notify: { channels: notify.channels, routes: notify.routes },
      minSeverity: notify.minSeverity,
      maxVulnerabilities: notify.maxVulnerabilities,
      ...(notify.ignore.length > 0 ? { ignores: new Ignores(notify.ignore) } : {}),
      retryMs: notify.retryMs,
      sentTtlMs: notify.sentTtlMs,
      timeoutMs: notify.timeoutMs,
      leaseMs: notify.leaseMs,
      consoleUrl: notify.consoleUrl,
      region: config.hss.region,
    },
    outbox: queue.outbox,
    budget: queue.budget,
    hss,
    send: await sendContextOf({
      timeoutMs: notify.timeoutMs,
      smn: smnCallerOf(config, access, callerFor),
    }),
    log,
  });
}

/**
 * What HSS calls are signed with in this invocation: the agency's temporary credentials, which
 * FunctionGraph hands over on every invocation, or the configured access key; and the project.
 * The client is built when first needed, and fails then, naming what is missing.
 */
function hssAccessOf(instance: Instance, context: PlatformContext) {
  const { config } = instance;
  const credentials = agencyCredentialsOf(context) ?? config.credentials;
  const projectId = config.hss.projectId ?? projectIdOf(context);
  return {
    credentials,
    projectId,
    caller(): SignedCaller {
      if (!credentials) {
        throw new ConfigError(
          "no credentials for HSS: give the function an agency with HSS permissions, or set CLOUD_SDK_AK and CLOUD_SDK_SK",
        );
      }
      if (!projectId) {
        throw new ConfigError("HSS_PROJECT_ID: set it to the project id of the HSS region");
      }
      return instance.callerFor(credentials, targetOf(config, projectId));
    },
  };
}

function targetOf(config: Config, projectId: string): CloudTarget {
  return {
    endpoint: config.hss.endpoint,
    region: config.hss.region,
    projectId,
    enterpriseProjectId: config.hss.enterpriseProjectId,
  };
}

/** The flusher's slice of the configuration. */
function flushSettingsOf(config: Config): FlushSettings {
  return {
    rescan: config.rescan,
    batchSize: config.hss.batchSize,
    leaseMs: config.queue.leaseMs,
    timeoutMs: config.hss.timeoutMs,
    maxAttempts: config.queue.maxAttempts,
    retryMaxMs: config.queue.retryMaxMs,
    dedupeWindowMs: config.dedupe.windowMs,
    followUp: config.followUp.enabled,
    followUpIntervalMs: config.followUp.intervalMs,
    swr: config.swr,
  };
}

/** The follow-up's slice of the configuration. */
function followUpSettingsOf(config: Config): FollowUpSettings {
  const { enabled: _enabled, ...followUp } = config.followUp;
  return {
    ...followUp,
    leaseMs: config.queue.leaseMs,
    dedupeWindowMs: config.dedupe.windowMs,
    swr: config.swr,
  };
}

function queueOf(instance: Instance): ScanQueue {
  if (!instance.queue) throw new Error("a queue sender without a queue (SCAN_QUEUE)");
  return instance.queue;
}

function valuesOf(credentials: Credentials | undefined): string[] {
  return credentials ? [credentials.ak, credentials.sk, credentials.securityToken ?? ""] : [];
}

async function describeSetup(instance: Instance, context: PlatformContext): Promise<SetupSummary> {
  const { config, queue } = instance;
  let reachable: Omit<SetupSummary["queue"], "backend"> = {};
  if (queue) {
    // This goes into an HTTP answer, not through the logger: the Redis password is scrubbed here.
    const scrub = secretScrubber(config.queue.secrets);
    reachable = await queue.counts().then(
      () => ({ reachable: true }),
      (error: Error) => ({ reachable: false, problem: scrub(error.message) }),
    );
    if (reachable.reachable && queue.probesDurability) {
      const durability = await queue.durability().catch(() => undefined);
      if (durability) reachable = { ...reachable, durability };
    }
  }
  const instanceUrls = await instanceUrlsOf(instance).catch(() => undefined);
  return {
    ...(instanceUrls ?? {}),
    hss: {
      endpoint: config.hss.endpoint,
      region: config.hss.region,
      project_id: config.hss.projectId
        ? "configured"
        : projectIdOf(context)
          ? "from the runtime"
          : "missing",
      credentials: agencyCredentialsOf(context)
        ? "agency"
        : config.credentials
          ? "access key"
          : "missing",
      enterprise_project_id: config.hss.enterpriseProjectId,
    },
    queue: { backend: queueBackendNameOf(config.queue.url), ...reachable },
    webhook_auth: config.webhook.auth,
    calls_per_minute: config.hss.callsPerMinute,
  };
}

/** The instance_url forms in use, and a retired scan API: what the dry run and status show. */
export async function instanceUrlsOf(
  instance: Instance,
): Promise<Pick<SetupSummary, "instance_urls" | "scan_api_retired">> {
  const { config, formStore } = instance;
  const ids = configuredInstanceIds(config.swr, config.wiring.instances);
  const { retiredSince } = await import("./flush/retired-api");
  const since = await retiredSince(instance.scanApi, formStore);
  return {
    ...(ids.length > 0
      ? { instance_urls: await instanceUrlStatus(formStore, config.swr, ids) }
      : {}),
    ...(since
      ? {
          scan_api_retired: {
            api: instance.scanApi.name,
            since: since.toISOString(),
            now_using: instance.scanApi.successor ?? "",
          },
        }
      : {}),
  };
}

/** Forms kept in this instance's own store (direct mode), loaded when first used. */
function ownFormStore(open: () => Promise<FormStore>): FormStore {
  return {
    keep: async (key, value, ttlMs) => (await open()).keep(key, value, ttlMs),
    kept: async (key) => (await open()).kept(key),
  };
}

/** The scheduled wiring, loaded only when SWR_WIRE_INSTANCES is set. */
async function keepWiredNow(
  instance: Instance,
  access: ReturnType<typeof hssAccessOf>,
  log: Logger,
  deadline: number,
): Promise<WiringSummary | undefined> {
  const { config } = instance;
  const { endpoint } = config.wiring;
  if (!endpoint || !access.credentials || !access.projectId) {
    log.warn("swr_wired", {
      errors: [
        "SWR_WIRE_INSTANCES needs HSS_REGION (or SWR_ENDPOINT), credentials and a project id",
      ],
    });
    return undefined;
  }
  const [{ keepWired }, { swrWebhooks }] = await Promise.all([
    import("./wiring/scheduled"),
    import("./swr/webhooks"),
  ]);
  const caller = instance.callerFor(access.credentials, {
    endpoint,
    region: config.hss.region,
    projectId: access.projectId,
  });
  return keepWired({
    settings: config.wiring,
    webhook: config.webhook,
    swr: () => swrWebhooks(caller, config.hss.timeoutMs),
    marks: instance.queue?.watches ?? (await instance.ownStore()),
    state: instance.wiring,
    deadline,
    log,
  });
}
