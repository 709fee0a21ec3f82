import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveCredentials } from "../../../deploy/functiongraph/credentials";
import { DeployError } from "../../../deploy/functiongraph/errors";

/** Where the deploy's access key comes from, and what it says when there is none. */

const AK = "DEPLOYTESTAK000000001";
const SK = "deploy-test-secret-key-00000000000000001";

function credentialsFile(content: string): string {
  const folder = mkdtempSync(join(tmpdir(), "credentials-"));
  mkdirSync(join(folder, ".huaweicloud"));
  writeFileSync(join(folder, ".huaweicloud", "credentials"), content);
  return join(folder, ".huaweicloud", "credentials");
}

describe("resolveCredentials", () => {
  it("takes the SDK's environment variables first", () => {
    const found = resolveCredentials(
      {
        HUAWEICLOUD_SDK_AK: AK,
        HUAWEICLOUD_SDK_SK: SK,
        CLOUD_SDK_AK: "other",
        CLOUD_SDK_SK: "other",
      },
      undefined,
      "/service",
    );
    expect(found).toEqual({
      ak: AK,
      sk: SK,
      securityToken: undefined,
      source: "the environment (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK)",
    });
  });

  it("takes the names this project documents, with a security token", () => {
    const found = resolveCredentials(
      { CLOUD_SDK_AK: AK, CLOUD_SDK_SK: SK, CLOUD_SDK_SECURITY_TOKEN: "token" },
      undefined,
      "/service",
    );
    expect(found).toMatchObject({ ak: AK, sk: SK, securityToken: "token" });
  });

  it.each([
    ["at its top level", `access_key_id = ${AK}\nsecret_access_key = ${SK}\n`, "its top level"],
    [
      "in a [default] section",
      `[default]\naccess_key_id = ${AK}\nsecret_access_key = ${SK}\n`,
      "its [default] section",
    ],
    ["as ak/sk in a [basic] section", `[basic]\nak = ${AK}\nsk = ${SK}\n`, "its [basic] section"],
  ])("reads a credentials file with the keys %s", (_, content, where) => {
    const path = credentialsFile(content);
    expect(resolveCredentials({}, path, "/service")).toMatchObject({
      ak: AK,
      sk: SK,
      source: `${path} (${where})`,
    });
  });

  it.each<[string, NodeJS.ProcessEnv, string | undefined, RegExp]>([
    [
      "half of an environment pair",
      { HUAWEICLOUD_SDK_AK: AK },
      undefined,
      /HUAWEICLOUD_SDK_SK is not set, but HUAWEICLOUD_SDK_AK is/,
    ],
    [
      "no file",
      {},
      "/nowhere/credentials",
      /no credentials to deploy with: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or write access_key_id and secret_access_key to \/nowhere\/credentials \(not found, from provider\.credentials\)/,
    ],
    [
      "a file without the secret key",
      {},
      credentialsFile(`[default]\naccess_key_id = ${AK}\n`),
      /has an access key id but no secret_access_key in its \[default\] section/,
    ],
    [
      "a file with other keys",
      {},
      credentialsFile("[profile]\nregion = cn-north-4\n"),
      /holds no access_key_id and secret_access_key \(looked at its top level\)/,
    ],
  ])("names what is missing: %s", (_, env, file, message) => {
    let thrown: unknown;
    try {
      resolveCredentials(env, file, "/service");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DeployError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain(AK);
  });
});
