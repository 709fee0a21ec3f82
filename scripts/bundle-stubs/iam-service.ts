/**
 * Replaces the SDK core's IAM service in the bundle. The core calls IAM only to look up a
 * project or domain id (when a Region is given without a project id) or to exchange federation
 * tokens; this function always uses an explicit endpoint and project id, so it never does.
 */
export class IamService {
  constructor(..._args: unknown[]) {
    throw new Error(
      "IAM look-ups are not included in the swr-scan-on-push bundle: set HSS_PROJECT_ID",
    );
  }
}
