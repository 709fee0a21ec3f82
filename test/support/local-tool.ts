import { execFile } from "node:child_process";
import { join } from "node:path";

export const ROOT = join(__dirname, "..", "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one of the tools (`cli/queue.ts`, `runners/invoke.ts`, …, under src/) as `npm run` would, in its own process. */
export function runLocalTool(
  tool: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(TSX, [`src/${tool}`, ...args], { cwd: ROOT, env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}
