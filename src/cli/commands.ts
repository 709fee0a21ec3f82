import { INVOKE_COMMAND, runInvoke } from "../runners/invoke";
import { runStart, START_COMMAND } from "../runners/server";
import { CHECK_DEPLOY_COMMAND, runCheckDeploy } from "./check-deploy";
import type { CommandSpec } from "./command";
import { NOTIFY_COMMAND, runNotify } from "./notify";
import { QUEUE_COMMAND, runQueue } from "./queue";
import { RESCAN_COMMAND, runRescan } from "./rescan";
import { runScan } from "./scan";
import { SCAN_COMMAND } from "./scan-args";
import { runWire, WIRE_COMMAND } from "./wire";

/** Every command, once: what dispatches it and what the main help says of it. */
export const COMMANDS: Array<{
  name: string;
  /** Its declaration: options, help and exit statuses. */
  spec: CommandSpec;
  /** How it is typed, after the executable's name. */
  synopsis: string;
  summary: string;
  run: (args: string[]) => Promise<number>;
}> = [
  {
    name: "scan",
    spec: SCAN_COMMAND,
    synopsis: "scan <image>…",
    summary: "ask HSS to scan images and wait for the verdict (the CI gate)",
    run: (args) => runScan(args, process.env),
  },
  {
    name: "queue",
    spec: QUEUE_COMMAND,
    synopsis: "queue status|flush|retry-dead",
    summary: "the function's shared scan queue",
    run: (args) => runQueue(args, process.env),
  },
  {
    name: "check-deploy",
    spec: CHECK_DEPLOY_COMMAND,
    synopsis: "check-deploy <trigger URL>",
    summary: "check a deployed function as a registry meets it",
    run: (args) => runCheckDeploy(args, process.env),
  },
  {
    name: "wire",
    spec: WIRE_COMMAND,
    synopsis: "wire --instance-id <id>",
    summary: "wire every namespace of an SWR Enterprise instance to the function",
    run: (args) => runWire(args, process.env),
  },
  {
    name: "notify",
    spec: NOTIFY_COMMAND,
    synopsis: "notify --test",
    summary: "post a sample alert to each configured chat channel",
    run: (args) => runNotify(args, process.env),
  },
  {
    name: "rescan",
    spec: RESCAN_COMMAND,
    synopsis: "rescan --dry-run|--now",
    summary: "re-evaluate images already pushed (RESCAN_*)",
    run: (args) => runRescan(args, process.env),
  },
  {
    name: "invoke",
    spec: INVOKE_COMMAND,
    synopsis: "invoke <event.json>",
    summary: "run the function once in this process",
    run: (args) => runInvoke(args),
  },
  {
    name: "start",
    spec: START_COMMAND,
    synopsis: "start",
    summary: "serve the function on this machine",
    run: (args) => runStart(args),
  },
];
