import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../../src/config";
import { eventFiles } from "../support/fixtures";
import { ROOT } from "../support/local-tool";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const configurationTable = readme.slice(
  readme.indexOf("## Configuration"),
  readme.indexOf("Local tools only"),
);

describe("the README", () => {
  it.each(CONFIG_VARIABLES)("documents %s in the configuration table", (variable) => {
    expect(configurationTable).toContain(`\`${variable}\``);
  });

  it.each(eventFiles())("lists the sample events/%s", (file) => {
    expect(readme).toContain(`events/${file}`);
  });
});
