import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../../src/config";
import { eventFiles } from "../support/fixtures";
import { ROOT } from "../support/root";

const read = (...path: string[]) => readFileSync(join(ROOT, ...path), "utf8");
const readme = read("README.md");
const configuration = read("docs", "configuration.md");
const configurationTable = configuration.slice(
  configuration.indexOf("| Variable |"),
  configuration.indexOf("Local tools only"),
);
const events = read("docs", "events.md");
const PAGES = [
  "configuration",
  "events",
  "operations",
  "ci-gate",
  "deploy",
  "troubleshooting",
  "performance",
  "architecture",
  "development",
];

describe("the documentation", () => {
  it.each(CONFIG_VARIABLES)("documents %s in docs/configuration.md's table", (variable) => {
    expect(configurationTable).toMatch(new RegExp(`^\\| (?:\`[A-Z_]+\`, )*\`${variable}\``, "m"));
  });

  it.each(eventFiles())("lists the sample events/%s in docs/events.md", (file) => {
    expect(events).toContain(`events/${file}`);
  });

  it("keeps the README a front page: under 200 lines, linking every page of docs/", () => {
    expect(readme.split("\n").length).toBeLessThan(200);
    for (const page of PAGES) {
      expect(readme).toContain(`(docs/${page}.md`);
    }
  });

  it("links only to documents that exist", () => {
    const pages = ["README.md", ...PAGES.map((page) => `docs/${page}.md`)];
    for (const page of pages) {
      const text = read(page);
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
        const path = join(ROOT, page, "..", target as string);
        expect(() => readFileSync(path), `${page} links ${target}`).not.toThrow();
      }
    }
  });
});
