import { execFile } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./root";

export { ROOT };

const TSX = join(ROOT, "node_modules", ".bin", "tsx");

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one of the tools (`cli/queue.ts`, `runners/invoke.ts`, …, under src/) as `npm run` would,
 * in its own process. With `timeoutMs`, a process still running then is killed: its code is -1.
 */
export function runLocalTool(
  tool: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number } = {},
): Promise<ToolRun & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      TSX,
      [`src/${tool}`, ...args],
      { cwd: ROOT, env, timeout: options.timeoutMs ?? 0 },
      (error, stdout, stderr) => {
        const killed = error?.killed === true || (error !== null && error.code === null);
        resolve({
          code: error ? (killed ? -1 : Number(error.code)) : 0,
          stdout,
          stderr: killed
            ? `${stderr}\n(killed: still running after ${options.timeoutMs} ms)`
            : stderr,
          ms: Date.now() - started,
        });
      },
    );
  });
}
