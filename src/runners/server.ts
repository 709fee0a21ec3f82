import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { defineCommand, noOperands, readCommandLine } from "../cli/command";
import { createLocalContext } from "./context";
import { configurationProblems, prepareLocalEnvironment } from "./local-environment";
import { registerPushes } from "./registry-pushes";

/**
 * `npm start`: serves the handler on 127.0.0.1:$PORT (default 8080). Each HTTP request becomes a
 * FunctionGraph APIG trigger event (base64 body, lower-case headers) and gets the handler's
 * answer, so a real SWR Enterprise / Harbor webhook or curl can be pointed at it.
 */

type Handler = (event: unknown, context: never) => Promise<unknown>;

interface ApigResponse {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
}

/** Requests larger than this are refused here, as APIG would refuse them. */
const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

export function apigEventOf(request: IncomingMessage, body: Buffer) {
  const url = new URL(request.url ?? "/", "http://localhost");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined)
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  return {
    httpMethod: request.method ?? "GET",
    path: url.pathname,
    resource: url.pathname,
    headers,
    queryStringParameters: Object.fromEntries(url.searchParams),
    pathParameters: {},
    body: body.toString("base64"),
    isBase64Encoded: true,
    requestContext: { apiId: "local", requestId: randomUUID(), stage: "local" },
  };
}

export async function startLocalServer(options: {
  port: number;
  handler: Handler;
  env?: NodeJS.ProcessEnv;
}): Promise<{ server: Server; url: string }> {
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of request) {
        size += (chunk as Buffer).length;
        if (size > MAX_REQUEST_BYTES) {
          response.writeHead(413, { "content-type": "application/json" });
          response.end(JSON.stringify({ status: "rejected", message: "request body too large" }));
          return;
        }
        chunks.push(chunk as Buffer);
      }
    } catch {
      // The client went away mid-body (or sent a broken one): nothing to answer, nothing to do.
      request.socket.destroy();
      return;
    }
    const event = apigEventOf(request, Buffer.concat(chunks));
    try {
      const answer = (await options.handler(
        event,
        createLocalContext({ env: options.env }) as never,
      )) as ApigResponse;
      const body = answer.body ?? "";
      response.writeHead(answer.statusCode, answer.headers ?? {});
      response.end(answer.isBase64Encoded ? Buffer.from(body, "base64") : body);
    } catch (error) {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ status: "error", message: (error as Error).message }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

/** A FunctionGraph TIMER trigger's event, as `npm start`'s flush interval sends it. */
export function timerEvent(name = "local-flush") {
  return {
    version: "v1.0",
    time: new Date().toISOString(),
    trigger_type: "TIMER",
    trigger_name: name,
    user_event: "",
  };
}

/**
 * Flushes the scan queue on a schedule, as the TIMER trigger does in FunctionGraph: every
 * `intervalMs`, or sooner when the last flush said when HSS's budget frees a call. Returns a
 * function that stops it.
 */
export function startFlushSchedule(options: {
  handler: Handler;
  intervalMs: number;
  env?: NodeJS.ProcessEnv;
  onError?: (error: Error) => void;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = async () => {
    let delay = options.intervalMs;
    try {
      const report = (await options.handler(
        timerEvent(),
        createLocalContext({ env: options.env }) as never,
      )) as { flush?: { retry_after_ms?: number }; queue?: { pending: number } };
      const retryAfter = report.flush?.retry_after_ms;
      if ((report.queue?.pending ?? 0) > 0 && retryAfter !== undefined) {
        delay = Math.min(options.intervalMs, Math.max(200, retryAfter + 100));
      }
    } catch (error) {
      options.onError?.(error as Error);
    }
    if (!stopped) timer = setTimeout(run, delay);
  };
  timer = setTimeout(run, options.intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export const START_COMMAND = defineCommand({
  name: "swr-scan-on-push start",
  summary:
    "serves the function over HTTP on this machine, flushing its queue as the timer trigger does",
  usage: "swr-scan-on-push start [--port <port>]   (in a clone: npm start -- …)",
  flags: {
    port: {
      type: "string",
      value: "<port>",
      help: "the port on 127.0.0.1, instead of PORT (0: any free one)",
    },
  },
  variables: [
    ["PORT", "the port on 127.0.0.1 (8080; 0: any free one)"],
    ["FLUSH_INTERVAL_SECONDS", "how often the queue is flushed, 1–60 (5)"],
    ["(every function variable)", "as deployed: docs/configuration.md"],
    ["(none of HSS_*)", "the embedded HSS emulator answers, on this machine only"],
  ],
  exits: [
    [0, "stopped"],
    [1, "failed while running"],
    [2, "configuration error: every problem listed, nothing started"],
  ],
});

/** One line of `npm start`'s own, in the shape of the function's log lines. */
function line(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>) {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`,
  );
}

/**
 * Reads --port (else PORT) and FLUSH_INTERVAL_SECONDS; undefined (and said) when one is wrong.
 */
function localSettings(
  env: NodeJS.ProcessEnv,
  portFlag: string | undefined,
): { port: number; interval: number; portFrom: string } | undefined {
  const portFrom = portFlag !== undefined ? "--port" : "PORT";
  const given = portFlag ?? env.PORT;
  const port = Number(given ?? 8080);
  const interval = Number(env.FLUSH_INTERVAL_SECONDS ?? 5);
  const problems = [
    ...(given?.trim() === "" || !Number.isInteger(port) || port < 0 || port > 65535
      ? [`${portFrom}: must be a port number, 0–65535 (got ${JSON.stringify(given)})`]
      : []),
    ...(!Number.isFinite(interval) || interval < 1 || interval > 60
      ? [`FLUSH_INTERVAL_SECONDS: must be 1–60 (got ${JSON.stringify(env.FLUSH_INTERVAL_SECONDS)})`]
      : []),
  ];
  if (problems.length === 0) return { port, interval, portFrom };
  line("error", "configuration_invalid", { problems, message: problems.join("; ") });
  return undefined;
}

export async function runStart(args: string[]): Promise<number> {
  const given = readCommandLine(START_COMMAND, args, ({ values, positionals }) => {
    noOperands(positionals);
    return values.port;
  });
  if ("exit" in given) return given.exit;
  const settings = localSettings(process.env, given.options);
  if (!settings) return 2;
  const say = (message: string) => line("info", "local_setup", { message });
  const emulator = await prepareLocalEnvironment(process.env, say);
  const problems = configurationProblems(process.env);
  if (problems) {
    line("error", "configuration_invalid", {
      problems,
      message: `the configuration is not valid: nothing started (every variable: docs/configuration.md)`,
    });
    await emulator?.close();
    return 2;
  }
  const { handler } = await import("../handler");
  let url: string;
  try {
    ({ url } = await startLocalServer({
      port: settings.port,
      handler: (event, context) => {
        // The embedded emulator has no registry of its own: each push delivered here was pushed.
        if (emulator) registerPushes(emulator, event, process.env);
        return (handler as Handler)(event, context);
      },
      env: process.env,
    }));
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const why =
      code === "EADDRINUSE"
        ? "is in use by another process"
        : code === "EACCES"
          ? "needs privileges this user lacks"
          : `cannot be listened on (${code ?? (error as Error).message})`;
    const message = `port ${settings.port} on 127.0.0.1 ${why}: choose another with ${settings.portFrom === "--port" ? "--port <port>" : "PORT=<port>"} (0: any free one)`;
    line("error", "start_failed", { reason: message, message });
    await emulator?.close();
    await handler.close();
    return 2;
  }
  line("info", "listening", { url, message: `swr-scan-on-push listening on ${url}` });
  startFlushSchedule({
    handler: handler as Handler,
    intervalMs: settings.interval * 1000,
    env: process.env,
    onError: (error) => line("error", "flush_failed", { reason: error.message }),
  });
  // The secret itself is never printed: the hint refers to the variable.
  const auth = process.env.WEBHOOK_AUTH === "none" ? "" : ` -H "authorization: $WEBHOOK_SECRET"`;
  say(
    `the scan queue is flushed every ${settings.interval} s (FLUSH_INTERVAL_SECONDS), as FunctionGraph's timer trigger does every minute`,
  );
  say(
    `try: curl -s -X POST '${url}/?instance_id=my-instance' -H 'content-type: application/json'${auth} --data @events/harbor-push.json`,
  );
  return new Promise<number>(() => {});
}

if (require.main === module) {
  runStart(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      line("error", "start_failed", {
        reason: error instanceof Error ? error.message : String(error),
      });
      process.exit(1);
    },
  );
}
