import { describe, expect, it, vi } from "vitest";
import * as z from "zod/mini";
import { lazySchema } from "../../src/zod-setup";

/** zod's settings, which it keeps on globalThis (shared by every test file of a worker). */
const zodSettings = () =>
  (globalThis as { __zod_globalConfig?: Record<string, unknown> }).__zod_globalConfig ?? {};

describe("lazySchema", () => {
  it("builds its schema on the first call, once, and keeps it", () => {
    // Prepare
    let builds = 0;
    const schema = lazySchema(() => {
      builds += 1;
      return z.strictObject({ tag: z.string() });
    });

    // Act and assess
    expect(builds).toBe(0);
    const first = schema();
    expect(schema()).toBe(first);
    expect(builds).toBe(1);
  });

  it("sets zod up before it builds, so that a refusal says in English what is wrong", async () => {
    // Prepare: zod without its settings, and this module loaded afresh
    const settings = zodSettings();
    delete settings.localeError;
    settings.jitless = false;
    vi.resetModules();
    const fresh = await import("../../src/zod-setup");

    // Act
    const schema = fresh.lazySchema(() => z.strictObject({ tag: z.string() }))();
    const result = z.safeParse(schema, { tag: 7 });

    // Assess
    expect(settings.jitless).toBe(true);
    expect(result.error?.issues[0]?.message).toBe(
      "Invalid input: expected string, received number",
    );
  });
});
