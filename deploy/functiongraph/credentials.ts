import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "ini";
import { DeployError } from "./errors";

/**
 * The access key the deploy signs with, from the usual places in this order: the environment
 * variables of Huawei Cloud's SDKs (HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK), the names this
 * project's function documents (CLOUD_SDK_AK / CLOUD_SDK_SK), then a credentials file
 * (`provider.credentials`, by default ~/.huaweicloud/credentials) with `access_key_id` /
 * `secret_access_key` (or `ak` / `sk`) at its top level or in a [default] or [basic] section.
 * Whatever is missing is named; a key's value never appears in a message.
 */
export interface DeployCredentials {
  ak: string;
  sk: string;
  securityToken?: string;
  /** Where they came from, for messages ("environment HUAWEICLOUD_SDK_AK/…", a file). */
  source: string;
}

const ENVIRONMENT_PAIRS = [
  { ak: "HUAWEICLOUD_SDK_AK", sk: "HUAWEICLOUD_SDK_SK", token: "HUAWEICLOUD_SDK_SECURITY_TOKEN" },
  { ak: "CLOUD_SDK_AK", sk: "CLOUD_SDK_SK", token: "CLOUD_SDK_SECURITY_TOKEN" },
] as const;

/** Sections of the file looked at after its top level. */
const FILE_SECTIONS = ["default", "basic"];
const FILE_KEYS = {
  ak: ["access_key_id", "ak"],
  sk: ["secret_access_key", "sk"],
  token: ["security_token"],
};

export const DEFAULT_CREDENTIALS_FILE = "~/.huaweicloud/credentials";

export function resolveCredentials(
  env: NodeJS.ProcessEnv,
  file: string | undefined,
  serviceDir: string,
): DeployCredentials {
  for (const names of ENVIRONMENT_PAIRS) {
    const ak = env[names.ak]?.trim();
    const sk = env[names.sk]?.trim();
    if (ak && sk) {
      const securityToken = env[names.token]?.trim() || undefined;
      return { ak, sk, securityToken, source: `the environment (${names.ak}, ${names.sk})` };
    }
    if (ak || sk) {
      throw new DeployError(
        `${ak ? names.sk : names.ak} is not set, but ${ak ? names.ak : names.sk} is: set both, or neither to use a credentials file`,
      );
    }
  }
  const path = expandHome(file ?? DEFAULT_CREDENTIALS_FILE, serviceDir);
  if (!existsSync(path)) {
    throw new DeployError(
      `no credentials to deploy with: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or write access_key_id and secret_access_key to ${path} (not found${file ? ", from provider.credentials" : ""})`,
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new DeployError(
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`,
    );
  }
  const places: Array<[string, Record<string, unknown>]> = [["its top level", parsed]];
  for (const section of FILE_SECTIONS) {
    const value = parsed[section];
    if (value && typeof value === "object") {
      places.push([`its [${section}] section`, value as Record<string, unknown>]);
    }
  }
  for (const [where, values] of places) {
    const ak = pick(values, FILE_KEYS.ak);
    const sk = pick(values, FILE_KEYS.sk);
    if (ak && sk) {
      return { ak, sk, securityToken: pick(values, FILE_KEYS.token), source: `${path} (${where})` };
    }
    if (ak || sk) {
      throw new DeployError(
        `${path} has ${ak ? "an access key id but no secret_access_key" : "a secret_access_key but no access_key_id"} in ${where}`,
      );
    }
  }
  throw new DeployError(
    `${path} holds no access_key_id and secret_access_key (looked at ${places.map(([where]) => where).join(", ")}); or set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK`,
  );
}

function pick(values: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = values[name];
    if (typeof value === "string" && value.trim() !== "") return value.trim();
  }
  return undefined;
}

function expandHome(path: string, serviceDir: string): string {
  if (path === "~" || path.startsWith("~/")) return join(homedir(), path.slice(1));
  return resolve(serviceDir, path);
}
