import { type Config, ConfigError, type Credentials } from "../config";
import { type PlatformContext, projectIdOf } from "../platform-context";
import {
  type BatchScanSubmitter,
  createDryRunSubmitter,
  createHssClient,
  type HssClientOptions,
} from "./client";
import { createScanTaskPreviewer } from "./scan-task-request";

export type SubmitterFactory = (options: HssClientOptions) => BatchScanSubmitter;

/**
 * Chooses what submits batches for an invocation: a dry run, or an HSS client for the current
 * credentials and project. A client is kept across warm invocations for as long as they stay the
 * same (agency credentials rotate, and then a new client is built).
 */
export function submitterSource(createSubmitter: SubmitterFactory = createHssClient) {
  let cached: { key: string; submitter: BatchScanSubmitter } | undefined;

  return (config: Config, credentials: Credentials | undefined, context: PlatformContext) => {
    const target = {
      endpoint: config.hss.endpoint,
      region: config.hss.region,
      enterpriseProjectId: config.hss.enterpriseProjectId,
    };
    const projectId = config.hss.projectId ?? projectIdOf(context);
    // A dry run needs no credentials: nothing is signed or sent.
    if (config.dryRun) {
      const preview = { ...target, projectId: projectId ?? "{project_id}" };
      return config.scan.api === "scan-task"
        ? createScanTaskPreviewer(preview, config.scan)
        : createDryRunSubmitter(preview);
    }
    if (!credentials) {
      throw new ConfigError(
        "no credentials for HSS: give the function an agency with HSS permissions, or set CLOUD_SDK_AK and CLOUD_SDK_SK",
      );
    }
    if (!projectId) {
      throw new ConfigError("HSS_PROJECT_ID: set it to the project id of the HSS region");
    }
    const key = JSON.stringify([
      credentials.ak,
      credentials.sk,
      credentials.securityToken,
      projectId,
    ]);
    if (cached?.key !== key) {
      cached = { key, submitter: createSubmitter({ ...target, projectId, credentials }) };
    }
    return cached.submitter;
  };
}
