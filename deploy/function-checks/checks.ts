import { CONFIG_VARIABLES, ConfigError, loadConfig, SECRET_VARIABLES } from "../../src/config";
import { queueBackendOf } from "../../src/queue/backends";
import type { DeployedFunctionSummary } from "../functiongraph/deployment";
import { mergeVariables, type ServiceDescription } from "../functiongraph/service";
import { wireAll } from "./wire-after-deploy";

/**
 * swr-scan-on-push's own checks around a FunctionGraph deploy. Before anything is sent, the
 * variables serverless.yml would deploy are read by the function's own configuration module, so
 * that a deploy never installs a configuration the function would refuse at its first invocation;
 * a secret (the webhook secret, SCAN_QUEUE, notification targets, an access key) is refused in
 * plain `environment` (it belongs in `encryptedEnvironment`); a variable the function does not read
 * is a typo. After a deploy (or `info`), it prints the URL to give the SWR EE trigger and the
 * `npm run check-deploy` command that checks the deployment end to end.
 */

interface Framework {
  service: ServiceDescription;
  getProvider(name: string):
    | {
        lastResult?: DeployedFunctionSummary[];
        access?: () => Promise<
          | {
              region: string;
              projectId: string;
              credentials: { ak: string; sk: string; securityToken?: string };
            }
          | undefined
        >;
      }
    | undefined;
  classes: { Error: new (message: string, code?: string) => Error };
}

export class FunctionChecks {
  readonly hooks: Record<string, () => void | Promise<void>>;

  constructor(
    private readonly serverless: Framework,
    _options: unknown,
    private readonly utils: { writeText(text: string): void },
  ) {
    this.hooks = {
      "before:deploy:deploy": () => this.checkConfiguration(),
      "after:deploy:deploy": async () => {
        this.tellHowToCheck();
        await this.wireAfterDeploy();
      },
      "after:info:info": () => this.tellHowToCheck(),
    };
  }

  private checkConfiguration(): void {
    const { provider, functions = {} } = this.serverless.service;
    const problems: string[] = [];
    for (const [key, section] of Object.entries(functions)) {
      const plain = mergeVariables(provider.environment, section.environment);
      const encrypted = mergeVariables(provider.encryptedEnvironment, section.encryptedEnvironment);
      const where = `functions.${key}`;
      for (const name of Object.keys(plain).filter((variable) => SECRET_VARIABLES.has(variable))) {
        problems.push(
          `${where}: ${name} is a secret: set it under encryptedEnvironment (FunctionGraph's encrypted variables), not environment`,
        );
      }
      for (const name of Object.keys({ ...plain, ...encrypted })) {
        if (!CONFIG_VARIABLES.includes(name)) {
          problems.push(
            `${where}: ${name} is not a variable the function reads (README, "Configuration")`,
          );
        }
      }
      const variables = { ...plain, ...encrypted };
      try {
        const config = loadConfig(variables);
        const backend = config.queue.url ? queueBackendOf(config.queue.url) : undefined;
        if (backend && !backend.shared) {
          problems.push(
            `${where}: SCAN_QUEUE=${backend.name} keeps the queue in one instance's memory, which FunctionGraph recycles: give the URL of a shared queue (Redis), or leave SCAN_QUEUE empty for direct mode`,
          );
        }
        const hasApi = (section.events ?? []).some((event) => "apiGateway" in event);
        if (hasApi && config.webhook.auth === "secret" && config.webhook.secrets.length === 0) {
          problems.push(
            `${where}: no webhook secret: the API trigger would answer every delivery 401; pass --param="webhookSecret=<16 or more characters>" (or set WEBHOOK_AUTH=none when the gateway authenticates callers)`,
          );
        }
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(`${where}: the function would refuse this configuration: ${error.message}`);
      }
    }
    if (problems.length > 0) {
      throw new this.serverless.classes.Error(
        `serverless.yml would deploy a configuration that does not work:\n  ${problems.join("\n  ")}`,
        "FUNCTION_CONFIGURATION",
      );
    }
  }

  private tellHowToCheck(): void {
    const { provider, functions = {} } = this.serverless.service;
    const summaries = this.serverless.getProvider("huawei")?.lastResult ?? [];
    for (const summary of summaries) {
      const section = Object.values(functions).find(
        (candidate) => (candidate.name ?? "") === summary.name,
      );
      const variables = {
        ...mergeVariables(provider.environment, section?.environment),
        ...mergeVariables(provider.encryptedEnvironment, section?.encryptedEnvironment),
      };
      // With an instance configured in the function, the trigger's URL needs no instance_id.
      const query =
        variables.SWR_INSTANCE_ID || variables.SWR_INSTANCES
          ? ""
          : "?instance_id=<SWR EE instance id>";
      for (const trigger of summary.triggers.filter((candidate) => candidate.url)) {
        const url = `${trigger.url}${query}`;
        this.utils.writeText(
          [
            `SWR EE trigger address: ${url}`,
            "Check the deployment (one authenticated dry-run delivery; nothing is scanned):",
            `  WEBHOOK_SECRET=<the webhook secret> npm run --silent check-deploy -- "${url}"`,
            'Wire every namespace of an SWR Enterprise instance to it (or deploy with --param="wireInstances=<id>"):',
            `  WEBHOOK_SECRET=<the webhook secret> npm run --silent wire -- --instance-id <SWR EE instance id> --url "${trigger.url}"`,
          ].join("\n"),
        );
      }
    }
  }

  /**
   * With `--param="wireInstances=<id>,<id>"` (SWR_WIRE_INSTANCES): wires every namespace of each
   * instance to the trigger just deployed, as `npm run wire` does, signed with the deploy's own
   * credentials; the function's scheduled flush keeps it so.
   */
  private async wireAfterDeploy(): Promise<void> {
    const { provider } = this.serverless.service;
    const huawei = this.serverless.getProvider("huawei");
    const summaries = huawei?.lastResult ?? [];
    const variables = {
      ...mergeVariables(provider.environment),
      ...mergeVariables(provider.encryptedEnvironment),
    };
    const instances = (variables.SWR_WIRE_INSTANCES ?? "").split(",").filter(Boolean);
    const url = summaries.flatMap((summary) => summary.triggers).find((t) => t.url)?.url;
    const access = await huawei?.access?.();
    if (instances.length === 0 || !url || !access) return;
    const failed = await wireAll({
      instances,
      url,
      variables,
      access,
      write: (line) => this.utils.writeText(line),
    });
    if (failed) {
      throw new this.serverless.classes.Error(
        "the function is deployed, but wiring SWR Enterprise failed for some namespaces (above): fix what SWR said, then run npm run wire, or deploy again",
        "SWR_WIRING",
      );
    }
  }
}
