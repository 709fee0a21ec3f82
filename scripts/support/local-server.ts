import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

/** A real `npm start` (src/runners/server.ts) for the measuring scripts, and its log lines. */

/** CHECK_ROOT: another checkout to run `npm start` from (to measure an older build). */
const ROOT = process.env.CHECK_ROOT ?? join(__dirname, "..", "..");

export interface LocalServer {
  url: string;
  process: ChildProcess;
  /** Its JSON log lines so far, parsed (at LOG_LEVEL, error by default). */
  lines: Array<Record<string, unknown>>;
}

export async function startServer(env: Record<string, string>): Promise<LocalServer> {
  const child = spawn(join(ROOT, "node_modules", ".bin", "tsx"), ["src/runners/server.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LOG_LEVEL: "error", ...env, PORT: "0" },
    stdio: ["ignore", "ignore", "pipe"],
    // Its own process group: `tsx` runs the server in a child process, and a kill must reach it.
    detached: true,
  });
  const lines: Array<Record<string, unknown>> = [];
  let output = "";
  let buffered = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    if (output.length < 100_000) output += text;
    buffered += text;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const part of parts) {
      if (!part.startsWith("{")) continue;
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not start: ${output}`)), 20_000);
    const look = () => {
      const listening = /listening on (http:\/\/[\d.:]+)/.exec(output);
      if (!listening?.[1]) return;
      clearTimeout(timer);
      child.stderr?.off("data", look);
      resolve(listening[1]);
    };
    child.stderr?.on("data", look);
    child.once("exit", (code) => reject(new Error(`npm start exited ${code}: ${output}`)));
  });
  child.removeAllListeners("exit");
  return { url, process: child, lines };
}

/** SIGKILL to the whole process group: the `tsx` launcher and the server process it runs. */
export function killServer(server: LocalServer) {
  try {
    if (server.process.pid !== undefined) process.kill(-server.process.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
