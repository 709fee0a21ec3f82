import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import picomatch from "picomatch";
import type { SignedCaller } from "../cloud/request";
import { swrCallerOf } from "../composition-root";
import { ConfigError, loadConfig } from "../config";
import { type SwrEmulator, startSwrEmulator } from "../emulator/swr-emulator";
import { secretScrubber } from "../log";
import { swrWebhooks } from "../swr/webhooks";
import {
  mergeRetried,
  pacedSlot,
  type WireRow,
  wireInstances,
  wireTable,
} from "../wiring/reconcile";
import {
  defineCommand,
  noOperands,
  type ParsedLine,
  readCommandLine,
  UsageError,
  withoutHss,
} from "./command";

/**
 * `npm run wire -- --instance-id <id>`: makes every namespace of an SWR Enterprise instance send
 * its pushes to the function (one webhook policy each, named swr-scan-on-push), and keeps that
 * true on every run: creates what is missing, updates what differs, replaces a policy whose
 * address changed, touches nothing it did not create. src/wiring/ decides and acts; this is the
 * command around it.
 */

export const WIRE_COMMAND = defineCommand({
  name: "swr-scan-on-push wire",
  summary:
    "wires every namespace of an SWR Enterprise instance to the function: one webhook policy each",
  usage:
    "swr-scan-on-push wire --instance-id <id> [--namespaces <glob>] [--url <trigger URL>] [--dry-run | --unwire] [--json]   (in a clone: npm run --silent wire -- …)",
  flags: {
    "instance-id": {
      type: "string",
      multiple: true,
      default: [],
      value: "<id>",
      help: "the SWR Enterprise instance (repeat, or comma-separate, for several)",
    },
    namespaces: {
      type: "string",
      default: "*",
      value: "<glob>",
      help: "only the namespaces matching this glob (default *: every one)",
    },
    url: {
      type: "string",
      value: "<trigger URL>",
      help: "the function's trigger URL (npm run deploy and npm run sls -- info print it); default: SWR_WIRE_URL, else (in a clone) the deployment's info; never an address read from a policy",
    },
    "dry-run": {
      type: "boolean",
      default: false,
      help: "print what would be done, change nothing (WEBHOOK_SECRET not needed)",
    },
    unwire: {
      type: "boolean",
      default: false,
      help: "remove exactly the policies this product created",
    },
    json: { type: "boolean", default: false, help: "one JSON value instead of the table" },
  },
  variables: [
    ["WEBHOOK_SECRET", "the function's webhook secret: the first value is what the policies send"],
    ["WEBHOOK_SECRET_HEADER", "the header it is sent in (authorization)"],
    ["HSS_REGION", "the region (SWR's endpoint is swr-api.<region>.myhuaweicloud.com)"],
    ["HSS_PROJECT_ID", "the project id of that region"],
    ["CLOUD_SDK_AK, CLOUD_SDK_SK", "access key of an IAM user allowed to manage SWR's triggers"],
    ["SWR_ENDPOINT", "SWR's endpoint, instead of the region's"],
    ["SWR_CALLS_PER_MINUTE", "SWR calls a minute at most (60)"],
    [
      "HSS_RATE_WINDOW_SECONDS",
      "the API gateway's window: of that budget, and the wait after SWR throttles (61)",
    ],
    ["SWR_WIRE_URL", "the trigger URL, when --url is not given"],
    ["(none of HSS_REGION, SWR_ENDPOINT)", "an embedded SWR stand-in with 3 namespaces answers"],
  ],
  exits: [
    [0, "every matching namespace is wired (or unwired) as asked"],
    [1, "SWR refused or failed something: the rest was done, the table says what"],
    [2, "usage or configuration error"],
  ],
  more: "the table: created, updated, replaced (the address changed), unchanged, skipped (why), removed, failed (SWR's code and message); then a warning for each policy that carries this product's name but sent elsewhere (corrected unless --dry-run)",
});

interface WireOptions {
  instances: string[];
  namespaces: string;
  url?: string;
  dryRun: boolean;
  unwire: boolean;
  json: boolean;
}

function optionsOf({ values, positionals }: ParsedLine<typeof WIRE_COMMAND.flags>): WireOptions {
  noOperands(positionals);
  const instances = values["instance-id"].flatMap((ids) => ids.split(",")).filter(Boolean);
  if (instances.length === 0) throw new UsageError("--instance-id is required");
  if (values.url !== undefined && !/^https?:\/\/\S+$/.test(values.url)) {
    throw new UsageError("--url must be the function's http(s) trigger URL");
  }
  return {
    instances,
    namespaces: values.namespaces,
    ...(values.url !== undefined ? { url: values.url } : {}),
    dryRun: values["dry-run"],
    unwire: values.unwire,
    json: values.json,
  };
}

const complain = (line: string) => process.stderr.write(`${line}\n`);

export async function runWire(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const line = readCommandLine(WIRE_COMMAND, args, optionsOf);
  if ("exit" in line) return line.exit;
  const options = line.options;
  const local = { ...env };
  const emulator = await embeddedStandIn(local, options);
  try {
    return await wire(options, local);
  } finally {
    await emulator?.close();
  }
}

/** With neither a region nor SWR_ENDPOINT: an SWR stand-in on loopback, so that it can be tried. */
async function embeddedStandIn(
  env: NodeJS.ProcessEnv,
  options: WireOptions,
): Promise<SwrEmulator | undefined> {
  if (env.HSS_REGION?.trim() || env.SWR_ENDPOINT?.trim()) return undefined;
  const emulator = await startSwrEmulator();
  for (const instance of options.instances) {
    for (const namespace of ["library", "team-a", "team-b"])
      emulator.addNamespace(instance, namespace);
  }
  const { EMULATOR_KEY } = await import("../emulator/hss-emulator");
  Object.assign(env, {
    SWR_ENDPOINT: emulator.url,
    HSS_PROJECT_ID: emulator.projectId,
    CLOUD_SDK_AK: EMULATOR_KEY.ak,
    CLOUD_SDK_SK: EMULATOR_KEY.sk,
    SWR_WIRE_URL: env.SWR_WIRE_URL || "http://127.0.0.1:8080/",
  });
  complain(
    `no HSS_REGION or SWR_ENDPOINT set: using an embedded SWR stand-in at ${emulator.url} with the namespaces library, team-a and team-b (nothing leaves this machine)`,
  );
  return emulator;
}

async function wire(options: WireOptions, env: NodeJS.ProcessEnv): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ ...withoutHss(env), SCAN_QUEUE: undefined });
    const problems = [
      ...(config.credentials
        ? []
        : ["CLOUD_SDK_AK, CLOUD_SDK_SK: an access key allowed to manage SWR's triggers"]),
      ...(config.hss.projectId ? [] : ["HSS_PROJECT_ID: the project id of the region"]),
      ...(config.wiring.endpoint ? [] : ["HSS_REGION: the region (or SWR_ENDPOINT)"]),
      ...(options.unwire || options.dryRun || config.webhook.secrets[0]
        ? []
        : ["WEBHOOK_SECRET: the secret the policies send"]),
    ];
    if (problems.length > 0) throw new ConfigError(problems.join("; "), problems);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    complain(`the configuration is not valid:\n${error.problems.map((p) => `  ${p}`).join("\n")}`);
    return 2;
  }
  const scrub = secretScrubber([...config.secrets, config.credentials?.sk ?? ""]);
  // Checked above: the endpoint, the credentials and the project are there.
  const swr = swrWebhooks(
    swrCallerOf(config) as SignedCaller,
    Math.max(config.hss.timeoutMs, 10_000),
  );
  const url = options.unwire
    ? undefined
    : (options.url ?? config.wiring.url ?? (await urlFromDeployment(env, config.hss.region)));
  if (!options.unwire && !url) {
    complain(
      "no trigger URL: give --url <the function's trigger URL> (npm run deploy and npm run sls -- info print it), or set SWR_WIRE_URL. The wiring never takes the address from a policy: anyone allowed to manage one namespace's triggers can write one.",
    );
    return 2;
  }
  const matches = picomatch(options.namespaces);
  const run = {
    swr,
    matches: (namespace: string) => matches(namespace),
    url,
    header: config.webhook.header,
    secret: config.webhook.secrets[0],
    dryRun: options.dryRun,
    unwire: options.unwire,
    slot: pacedSlot(config.wiring.callsPerMinute, config.wiring.windowMs),
  };
  const first = await wireInstances(options.instances, run);
  let rows = first.rows;
  // What SWR throttled goes through a window later: the run is idempotent, so it is run again.
  for (let attempt = 2; attempt <= THROTTLE_ATTEMPTS && !rows.every(done); attempt += 1) {
    const seconds = Math.round(config.wiring.windowMs / 1000);
    complain(
      `SWR throttled some calls: again in ${seconds} s (attempt ${attempt} of ${THROTTLE_ATTEMPTS})`,
    );
    await new Promise((resolve) => setTimeout(resolve, config.wiring.windowMs));
    rows = mergeRetried(rows, (await wireInstances(options.instances, run)).rows);
  }
  return report(rows, first.errors.map(scrub), options, scrub);
}

/** Runs of the wiring when SWR throttles (429): the first and two more, a window apart. */
const THROTTLE_ATTEMPTS = 3;
const done = (row: WireRow) => row.action !== "postponed";

/**
 * The trigger URL from the deployment itself: `npm run sls -- info` in a clone (the deploy tools,
 * installed on first use, read it from FunctionGraph with the same access key).
 */
function urlFromDeployment(
  env: NodeJS.ProcessEnv,
  region: string | undefined,
): Promise<string | undefined> {
  const root = join(__dirname, "..", "..");
  const runner = join(root, "deploy", "run.ts");
  const tsx = join(root, "node_modules", ".bin", "tsx");
  if (!region || !existsSync(runner) || !existsSync(tsx)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    complain("no --url: reading the trigger's URL from the deployment (npm run sls -- info)");
    execFile(
      tsx,
      [runner, "info", "--region", region],
      { env, timeout: 600_000, maxBuffer: 4 * 1024 * 1024 },
      // The info ends with the exact `wire` command for this deployment.
      (_error, stdout) => resolve(/ wire -- .*--url "(https?:\/\/[^"\s]+)"/.exec(stdout)?.[1]),
    );
  });
}

function report(
  rows: WireRow[],
  errors: string[],
  options: WireOptions,
  scrub: (text: string) => string,
): number {
  const failed =
    errors.length +
    rows.filter((row) => row.action === "failed" || row.action === "postponed").length;
  if (options.json) {
    process.stdout.write(
      `${scrub(JSON.stringify({ dry_run: options.dryRun, unwire: options.unwire, rows, errors }, null, 2))}\n`,
    );
  } else {
    for (const line of wireTable(rows, options.dryRun)) process.stdout.write(`${scrub(line)}\n`);
  }
  for (const error of errors) complain(error);
  for (const row of rows) {
    for (const policy of row.elsewhere ?? []) {
      complain(
        scrub(
          `warning: ${row.instance_id}/${row.namespace}: policy ${policy.policy_id} carries this product's name and mark but sends to ${policy.address}, not to this run's address: ${options.dryRun ? "it would be replaced" : row.action === "failed" || row.action === "postponed" ? "not corrected yet (above)" : "corrected"}`,
        ),
      );
    }
  }
  return failed > 0 ? 1 : 0;
}

if (require.main === module) {
  runWire(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: Error) => {
      complain(`wire failed: ${error.message}`);
      process.exitCode = 1;
    },
  );
}
