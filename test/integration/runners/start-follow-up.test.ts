import { afterAll, describe, expect, it } from "vitest";
import { harborPush, harborSample } from "../../support/fixtures";
import { type StartedServer, startServerProcess } from "../../support/start-process";

/**
 * `npm start` as a new user runs it (no configuration: embedded emulator, in-process queue): a
 * push becomes, with no one involved, a finished scan in its logs, HSS's sync step included.
 */
describe("npm start", () => {
  let server: StartedServer | undefined;
  afterAll(() => server?.stop());

  const start = (env: Record<string, string> = {}) => {
    server?.stop();
    server = startServerProcess(env);
    return server;
  };

  it("shows a push becoming a finished scan in its logs", async () => {
    const { lines, waitFor, url: listening } = start();
    const url = await listening();
    const answer = await fetch(`${url}/?instance_id=local-instance`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(harborSample()),
    });
    expect(answer.status).toBe(202);

    const finished = JSON.parse(await waitFor(/"event":"scan_finished"/, 45_000));
    expect(finished).toMatchObject({ level: "info", scan_status: "success", vul_num: 0 });
    expect(lines).toContainEqual(expect.stringContaining('"event":"not_synced"'));
    expect(lines).toContainEqual(expect.stringContaining('"event":"sync_requested"'));
    expect(lines.filter((line) => line.includes('"answered":429'))).toEqual([]);
  }, 70_000);

  it("with scan-task, follows two images pushed together to their results", async () => {
    const { lines, url: listening } = start({ HSS_SCAN_API: "scan-task" });
    const url = await listening();
    const answer = await fetch(`${url}/?instance_id=local-instance`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(
        harborPush("team/api", [
          { tag: "high-1", digest: "sha256:1", resource_url: "hub.example.com/team/api:high-1" },
          { tag: "clean-1", digest: "sha256:2", resource_url: "hub.example.com/team/api:clean-1" },
        ]),
      ),
    });
    expect(answer.status).toBe(202);

    const finished = async () => {
      const until = Date.now() + 45_000;
      while (Date.now() < until) {
        const done = lines.filter((line) => line.includes('"event":"scan_finished"'));
        if (done.length >= 2) return done.map((line) => JSON.parse(line));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      throw new Error(lines.join("\n"));
    };
    const results = await finished();
    expect(results.map((line) => [line.image, line.severity_level]).sort()).toEqual([
      ["team/api:clean-1 (instance local-instance)", "Security"],
      ["team/api:high-1 (instance local-instance)", "High"],
    ]);
    expect(lines.filter((line) => line.includes('"answered":429'))).toEqual([]);
  }, 70_000);
});
