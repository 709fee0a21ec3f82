import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEY } from "../../../deploy/emulator/functiongraph-emulator";
import { ROOT } from "../../support/local-tool";

describe("npm run functiongraph-emulator", () => {
  it("serves the stand-in and prints the environment that points the deploy at it", async () => {
    // Act
    const child = spawn(
      join(ROOT, "node_modules", ".bin", "tsx"),
      ["deploy/emulator/main.ts", "--port", "0"],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    let printed = "";
    for await (const chunk of child.stdout) {
      printed += String(chunk);
      if (printed.includes("HUAWEICLOUD_SDK_SK=")) break;
    }
    const endpoint = /export HUAWEICLOUD_FUNCTIONGRAPH_ENDPOINT=(\S+)/.exec(printed)?.[1] ?? "";
    const answer = await fetch(`${endpoint}/v3/projects`).catch(() => undefined);
    child.kill();

    // Assess
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed).toContain(`export HUAWEICLOUD_IAM_ENDPOINT=${endpoint}`);
    expect(printed).toContain(`export HUAWEICLOUD_SDK_AK=${EMULATOR_KEY.ak}`);
    // An unsigned request: refused as the gateway refuses it.
    expect(answer?.status).toBe(401);
  });
});
