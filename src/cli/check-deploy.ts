import { readFileSync } from "node:fs";
import { describeSource, type InstanceUrlStatus } from "../images/instance-url";
import { defineCommand, noOperands, packageFile, readCommandLine, UsageError } from "./command";

/**
 * `npm run --silent check-deploy -- <trigger URL> [--header <name>] [--event <file>]`: the
 * post-deploy check. Sends one authenticated **dry-run** delivery (`?dry_run=true`, honoured only
 * for authenticated deliveries, so nothing is submitted) to the deployed trigger, exactly as a
 * registry would (the URL as configured in the SWR EE trigger, the secret in its header), and says
 * in plain words whether authentication, parsing, mapping, the instance id and the HSS and queue
 * settings are right. The secret comes from the WEBHOOK_SECRET environment variable, never from
 * the command line. Exit 0 when every check passed, 1 when one failed, 2 for usage errors.
 */

export const CHECK_DEPLOY_COMMAND = defineCommand({
  name: "swr-scan-on-push check-deploy",
  summary:
    "checks a deployed function as a registry meets it: one authenticated dry-run delivery, nothing submitted",
  usage:
    "WEBHOOK_SECRET=<secret> swr-scan-on-push check-deploy <trigger URL, with ?instance_id=… as in the SWR EE trigger> [--header authorization] [--event <file>]",
  operands: [["<trigger URL>", "the URL as configured in the SWR EE trigger"]],
  flags: {
    header: {
      type: "string",
      default: "authorization",
      value: "<name>",
      help: "the header the secret goes in (default authorization)",
    },
    event: {
      type: "string",
      value: "<file>",
      help: "the sample delivery (default events/harbor-push.json)",
    },
  },
  variables: [
    ["WEBHOOK_SECRET", "the secret the trigger sends (the first, when several)"],
    [
      "CLOUD_SDK_AK, CLOUD_SDK_SK, HSS_REGION, HSS_PROJECT_ID, SWR_INSTANCES / SWR_INSTANCE_ID",
      "when set: one listed image of each SWR Enterprise instance is read from HSS to learn how HSS records its instance_url (kept in SCAN_QUEUE when set)",
    ],
    [
      "NOTIFY_CHANNELS (and NOTIFY_WEBHOOK_URL, NOTIFY_SMN_TOPIC)",
      "when set as deployed: a sample alert to each channel (notify --test), its answer checked",
    ],
  ],
  exits: [
    [0, "every check passed: the deployment is ready"],
    [1, "a check failed (each is said, with what to fix)"],
    [2, "usage error"],
  ],
});
const TIMEOUT_MS = 15_000;

interface Check {
  ok: boolean;
  line: string;
}

interface DryRunAnswer {
  status?: string;
  message?: string;
  event?: { format: string; type: string };
  would_submit?: Array<Record<string, unknown>>;
  would_send?: Array<{ url: string }>;
  skipped?: Array<{ image: string; rule: string; reason: string }>;
  unmapped?: Array<{ image: string; registry: string }>;
  adjusted?: Array<{ image: string; reason: string }>;
  setup?: {
    hss: { endpoint: string; region?: string; project_id: string; credentials: string };
    queue: {
      backend: string;
      reachable?: boolean;
      problem?: string;
      durability?: { persistent: boolean; detail: string };
    };
    webhook_auth?: "secret" | "none";
    calls_per_minute: number;
    instance_urls?: InstanceUrlStatus[];
    scan_api_retired?: { api: string; since: string; now_using: string };
  };
}

export async function checkDeployment(options: {
  url: string;
  secret: string | undefined;
  header: string;
  event: unknown;
}): Promise<Check[]> {
  const delivered = await deliverSample(options);
  if ("failed" in delivered) return [delivered.failed];
  const { response, answer } = delivered;
  const checks: Check[] = [{ ok: true, line: `reached the function (HTTP ${response.status})` }];
  if (response.status === 401) {
    checks.push({
      ok: false,
      line: `authentication: the webhook secret in the ${options.header} header was refused (${answer.message})`,
    });
    return checks;
  }
  checks.push(authenticationCheck(answer, options));
  if (response.status >= 400 && response.status !== 422) {
    checks.push({
      ok: false,
      line: `the delivery was refused: HTTP ${response.status}, ${answer.message}`,
    });
    return checks;
  }
  if (answer.unmapped) checks.push({ ok: false, line: `instance id: ${answer.message}` });
  if (answer.status !== "dry_run" && !answer.unmapped) {
    checks.push({
      ok: false,
      line: `dry run: the function answered "${answer.status}" instead of a dry run; it may be an older version that submitted the sample for real`,
    });
    return checks;
  }
  checks.push({ ok: true, line: "dry run: nothing was sent to HSS" });
  return [...checks, ...mappingChecks(answer), ...setupChecks(answer)];
}

/** Posts the sample with `?dry_run=true`; a failed check when no JSON answer of this function came. */
async function deliverSample(options: {
  url: string;
  secret: string | undefined;
  header: string;
  event: unknown;
}): Promise<{ response: Response; answer: DryRunAnswer } | { failed: Check }> {
  const url = new URL(options.url);
  url.searchParams.set("dry_run", "true");
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.secret) headers[options.header] = options.secret;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(options.event),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const reason = (
      error as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }
    ).cause;
    const cause =
      reason?.code ?? reason?.errors?.[0]?.code ?? reason?.message ?? (error as Error).message;
    return {
      failed: { ok: false, line: `could not reach ${url.origin}${url.pathname}: ${cause}` },
    };
  }
  const text = await response.text();
  try {
    return { response, answer: JSON.parse(text) as DryRunAnswer };
  } catch {
    return {
      failed: {
        ok: false,
        line: `the trigger answered HTTP ${response.status} with something that is not this function's JSON (${text.slice(0, 80)}): check the URL and the gateway`,
      },
    };
  }
}

/** A function with authentication off accepts any secret: what it says of itself decides. */
function authenticationCheck(
  answer: DryRunAnswer,
  options: { secret: string | undefined; header: string },
): Check {
  return answer.setup?.webhook_auth === "none" || !options.secret
    ? {
        ok: false,
        line: "authentication: the function accepts deliveries WITHOUT a secret (WEBHOOK_AUTH=none): anyone who can reach the URL can make it scan; set WEBHOOK_SECRET on the function and in the trigger",
      }
    : {
        ok: true,
        line: `authentication: the webhook secret in the ${options.header} header was accepted`,
      };
}

/** What the dry run says of the sample: how it was read and what it would scan. */
function mappingChecks(answer: DryRunAnswer): Check[] {
  const checks: Check[] = [];
  if (answer.event) {
    checks.push({
      ok: true,
      line: `parsing: read as ${answer.event.format}, event ${answer.event.type}`,
    });
  }
  for (const image of answer.would_submit ?? []) {
    const where = image.instance_id
      ? ` on instance ${image.instance_id}${image.instance_url ? ` (instance_url ${image.instance_url})` : ""}`
      : "";
    checks.push({
      ok: true,
      line: `mapping: would scan ${image.namespace}/${image.image_name}:${image.image_version}${where}`,
    });
  }
  for (const skip of answer.skipped ?? []) {
    checks.push({
      ok: false,
      line: `mapping: ${skip.image} would be skipped (${skip.rule}): ${skip.reason}`,
    });
  }
  for (const adjusted of answer.adjusted ?? []) {
    checks.push({ ok: true, line: `mapping: ${adjusted.image}: ${adjusted.reason}` });
  }
  if ((answer.would_submit ?? []).length === 0 && !answer.unmapped) {
    checks.push({ ok: false, line: "mapping: the sample would scan nothing" });
  }
  return checks;
}

/** What the dry run says of the setup: where HSS calls go, with what, and the queue. */
function setupChecks(answer: DryRunAnswer): Check[] {
  const checks: Check[] = [];
  const setup = answer.setup;
  if (setup) {
    const hss = setup.hss;
    checks.push({
      ok: hss.project_id !== "missing" && hss.credentials !== "missing",
      line: `HSS: ${hss.endpoint}${hss.region ? ` (region ${hss.region})` : ""}, project id ${hss.project_id}, credentials: ${hss.credentials === "agency" ? "the function's agency" : hss.credentials === "access key" ? "an access key (CLOUD_SDK_AK)" : "MISSING: give the function an agency with HSS permissions"}${hss.project_id === "missing" ? "; set HSS_PROJECT_ID" : ""}`,
    });
    for (const send of answer.would_send ?? []) {
      checks.push({ ok: true, line: `HSS: would call POST ${send.url}` });
    }
    const queue = setup.queue;
    checks.push({
      ok: queue.reachable !== false,
      line:
        queue.backend === "none"
          ? `queue: none (direct mode: about ${setup.calls_per_minute} pushes a minute; set SCAN_QUEUE to a Redis URL for bursts)`
          : queue.reachable === false
            ? `queue: ${queue.backend} is NOT reachable: ${queue.problem} (check the function's VPC and subnet)`
            : `queue: ${queue.backend}, reachable; HSS calls limited to ${setup.calls_per_minute} a minute`,
    });
    for (const url of setup.instance_urls ?? []) {
      checks.push({
        ok: true,
        line: `instance ${url.instance_id}: instance_url ${url.form} — ${describeSource(url)}`,
      });
    }
    if (setup.scan_api_retired) {
      const retired = setup.scan_api_retired;
      checks.push({
        ok: false,
        line: `scan API: HSS no longer serves ${retired.api} (since ${retired.since}); the function sends through ${retired.now_using}: set HSS_SCAN_API=${retired.now_using}`,
      });
    }
    if (queue.durability) {
      checks.push({
        ok: queue.durability.persistent,
        line: queue.durability.persistent
          ? `queue durability: ${queue.durability.detail}`
          : `queue durability: NOT durable: ${queue.durability.detail}`,
      });
    }
  }
  return checks;
}

/**
 * With chat channels configured here (NOTIFY_CHANNELS, NOTIFY_WEBHOOK_URL, NOTIFY_SMN_TOPIC, as
 * deployed), `notify --test` for each: a sample alert posted, the platform's own answer checked.
 */
async function channelChecks(env: NodeJS.ProcessEnv): Promise<Check[]> {
  if (!env.NOTIFY_CHANNELS && !env.NOTIFY_WEBHOOK_URL && !env.NOTIFY_SMN_TOPIC) return [];
  const { ConfigError, loadConfig } = await import("../config");
  const { withoutHss } = await import("./command");
  const { testChannels } = await import("./notify");
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(withoutHss(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((problem) => ({ ok: false, line: `notifications: ${problem}` }));
  }
  const answers = await testChannels(config.notify.channels, config);
  return answers.map((answer) => ({
    ok: answer.ok,
    line: answer.ok
      ? `channel ${answer.channel} (${answer.type}) took a sample alert: ${answer.answer}`
      : `channel ${answer.channel} (${answer.type}) refused a sample alert: ${answer.answer}${answer.message ? `: ${answer.message}` : ""} (docs/notifications.md, "Getting each URL and secret")`,
  }));
}

/**
 * With HSS credentials here (CLOUD_SDK_AK/SK, HSS_REGION or HSS_ENDPOINT, HSS_PROJECT_ID), one
 * listed image of each configured SWR Enterprise instance is read (one ListRegistryImages call
 * each) to learn how HSS records its instance_url before the first push; with SCAN_QUEUE reachable
 * from here, what is learned is kept where the function reads it.
 */
export async function instanceUrlChecks(env: NodeJS.ProcessEnv): Promise<Check[]> {
  const hasHss = (env.HSS_REGION || env.HSS_ENDPOINT) && env.CLOUD_SDK_AK && env.HSS_PROJECT_ID;
  if (!hasHss) return [];
  const { openInstance, invocationOf } = await import("../composition-root");
  const { configuredInstanceIds, instanceUrlStatus } = await import("../instance-urls");
  let instance: Awaited<ReturnType<typeof openInstance>> | undefined;
  try {
    instance = await openInstance({ ...env, LOG_LEVEL: "error" }, {});
    const { config } = instance;
    const ids = configuredInstanceIds(config.swr, config.wiring.instances);
    if (ids.length === 0) return [];
    const run = invocationOf(instance, {}, () => undefined);
    const learned = await run.urls.learnFromHss(ids, {
      hss: await run.hss(),
      budget: instance.queue?.budget ?? instance.own.budget,
    });
    const now = await instanceUrlStatus(instance.formStore, config.swr, ids);
    return learned.map((outcome, index) => {
      const status = now[index];
      const form = status ? `${status.form} — ${describeSource(status)}` : "";
      if (outcome.outcome === "failed" || outcome.outcome === "budget") {
        return {
          ok: false,
          line: `instance ${outcome.instance_id}: could not ask HSS for a listed image (${outcome.detail ?? "the list API's budget is spent"})`,
        };
      }
      return {
        ok: true,
        line:
          outcome.outcome === "no_images"
            ? `instance ${outcome.instance_id}: HSS lists no image of it yet; instance_url ${form}`
            : `instance ${outcome.instance_id}: HSS records instance_url ${JSON.stringify(outcome.detail)}; in use here: ${form}${instance?.queue ? "" : " (no SCAN_QUEUE here: the function learns it itself on its first refusal or follow-up)"}`,
      };
    });
  } catch (error) {
    return [{ ok: false, line: `instance_url: ${(error as Error).message}` }];
  } finally {
    await instance?.queue?.close();
  }
}

export async function runCheckDeploy(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const line = readCommandLine(CHECK_DEPLOY_COMMAND, args, ({ values, positionals }) => {
    const [target, ...extra] = positionals;
    if (!target || !/^https?:\/\//.test(target)) {
      throw new UsageError("give the trigger's http(s) URL");
    }
    noOperands(extra);
    return { target, event: values.event, header: values.header };
  });
  if ("exit" in line) return line.exit;
  const { target } = line.options;
  const eventFile = line.options.event ?? packageFile("events", "harbor-push.json");
  let event: unknown;
  try {
    event = JSON.parse(readFileSync(eventFile, "utf8"));
  } catch (error) {
    process.stderr.write(`cannot read the event ${eventFile}: ${(error as Error).message}\n`);
    return 2;
  }
  const secret = env.WEBHOOK_SECRET?.split(",")[0]?.trim() || undefined;
  // Learned first: the function's own answer below then shows what it will send.
  const learned = await instanceUrlChecks(env);
  const checks = await checkDeployment({
    url: target,
    secret,
    header: line.options.header.toLowerCase(),
    event,
  });
  checks.push(...(await channelChecks(env)), ...learned);
  for (const check of checks) process.stdout.write(`${check.ok ? "ok  " : "FAIL"} ${check.line}\n`);
  const failed = checks.filter((check) => !check.ok).length;
  process.stdout.write(
    failed === 0
      ? "the deployment is ready: point the SWR EE trigger at this URL with the same header\n"
      : `${failed} check(s) failed\n`,
  );
  return failed === 0 ? 0 : 1;
}

if (require.main === module) {
  runCheckDeploy(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
