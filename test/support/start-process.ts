import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./local-tool";

/**
 * `npm start` (src/runners/server.ts) in its own process, as a user runs it: on a free loopback
 * port, its queue flushed every second; its log lines (stderr) collected as they come.
 */
export interface StartedServer {
  lines: string[];
  /** The first log line matching, waited for at most `withinMs`; fails with the whole log. */
  waitFor(pattern: RegExp, withinMs: number): Promise<string>;
  /** The URL it listens on, once it says so. */
  url(withinMs?: number): Promise<string>;
  stop(): void;
}

export function startServerProcess(
  env: Record<string, string> = {},
  args: string[] = [],
): StartedServer {
  const lines: string[] = [];
  const child: ChildProcess = spawn(
    join(ROOT, "node_modules", ".bin", "tsx"),
    ["src/runners/server.ts", ...args],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PORT: "0", FLUSH_INTERVAL_SECONDS: "1", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let buffered = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts);
  });
  const waitFor = async (pattern: RegExp, withinMs: number) => {
    const until = Date.now() + withinMs;
    while (Date.now() < until) {
      const line = lines.find((candidate) => pattern.test(candidate));
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no line matching ${pattern} within ${withinMs} ms:\n${lines.join("\n")}`);
  };
  return {
    lines,
    waitFor,
    async url(withinMs = 20_000) {
      const listening = await waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/, withinMs);
      return /(http:\/\/127\.0\.0\.1:\d+)/.exec(listening)?.[1] as string;
    },
    stop: () => {
      child.kill();
    },
  };
}
