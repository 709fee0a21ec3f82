import { type CloudSettings, cloudSettings, FunctionGraph, lookUpProjectId } from "./api";
import { type DeployCredentials, resolveCredentials } from "./credentials";
import {
  API_URL_PLACEHOLDER,
  type Context,
  type DeployedFunctionSummary,
  deploy,
  info,
  remove,
} from "./deployment";
import { DeployError } from "./errors";
import { apiGatewayEvent, providerSchema, timerEvent } from "./schema";
import type { ServiceDescription } from "./service";

/**
 * A Serverless Framework v3 provider for Huawei Cloud FunctionGraph (`provider.name: huawei`),
 * on Huawei's official FunctionGraph SDK. `deploy` creates or updates each function (code and
 * configuration) and its API gateway and timer triggers, `info` shows them with their URLs,
 * `remove` deletes them. It declares the options it takes (`--region`), validates serverless.yml
 * with a schema, and gives `${huawei:region}`, `${huawei:projectId}` and `${huawei:apiUrl}` (the
 * function's API trigger URL, set by the deploy once the trigger exists) to the configuration.
 * Every failure ends the command with a non-zero exit and a message that names FunctionGraph's
 * answer and what to check.
 */

/** The parts of the framework's `serverless` object a provider uses. */
interface Framework {
  service: ServiceDescription;
  serviceDir: string;
  setProvider(name: string, provider: unknown): void;
  configSchemaHandler: {
    defineProvider(name: string, schema: unknown): void;
    defineFunctionEvent(provider: string, event: string, schema: unknown): void;
  };
  classes: { Error: new (message: string, code?: string) => Error };
}

interface PluginUtils {
  writeText(text: string): void;
}

type Options = Record<string, unknown> & { region?: string };
type Read = (path: string[]) => Promise<unknown>;

interface Target {
  region: string;
  projectId: string;
  credentials: DeployCredentials;
  cloud: CloudSettings;
}

const REGION_OPTION = {
  usage: "Region to deploy to (default: provider.region in serverless.yml)",
  shortcut: "r",
  type: "string",
};

export class FunctionGraphProvider {
  static getProviderName(): string {
    return "huawei";
  }

  readonly provider = this;
  readonly commands: Record<string, unknown>;
  readonly hooks: Record<string, () => Promise<void>>;
  readonly configurationVariablesSources: Record<string, unknown>;
  /** What the last deploy or info found, for other plugins (the post-deploy check). */
  lastResult: DeployedFunctionSummary[] = [];
  private target?: Promise<Target>;

  constructor(
    private readonly serverless: Framework,
    private readonly options: Options,
    private readonly utils: PluginUtils,
  ) {
    serverless.setProvider("huawei", this);
    serverless.configSchemaHandler.defineProvider("huawei", providerSchema);
    serverless.configSchemaHandler.defineFunctionEvent("huawei", "apiGateway", apiGatewayEvent);
    serverless.configSchemaHandler.defineFunctionEvent("huawei", "timer", timerEvent);
    // osls 3 keeps `--region` for AWS only: a provider that takes it says so.
    this.commands = Object.fromEntries(
      ["deploy", "info", "remove", "package", "print"].map((command) => [
        command,
        { options: { region: REGION_OPTION } },
      ]),
    );
    this.configurationVariablesSources = {
      huawei: {
        resolve: async ({
          address,
          resolveConfigurationProperty,
        }: {
          address?: string;
          resolveConfigurationProperty: Read;
        }) => {
          try {
            if (address === "region") {
              return { value: await this.regionOf(resolveConfigurationProperty) };
            }
            if (address === "projectId") {
              return { value: (await this.resolveTarget(resolveConfigurationProperty)).projectId };
            }
            // Known only once the trigger exists: the deploy puts the URL in its place.
            if (address === "apiUrl") return { value: API_URL_PLACEHOLDER };
          } catch (error) {
            throw this.frameworkError(error);
          }
          throw new serverless.classes.Error(
            `\${huawei:${address ?? ""}}: the huawei source knows region, projectId and apiUrl`,
            "HUAWEI_VARIABLE_SOURCE",
          );
        },
      },
    };
    this.hooks = {
      "deploy:deploy": () =>
        this.run(async (context) => {
          this.lastResult = (await deploy(context)).functions;
        }),
      "info:info": () =>
        this.run(async (context) => {
          this.lastResult = await info(context);
        }),
      "remove:remove": () => this.run((context) => remove(context)),
    };
  }

  /** This command's region, project and credentials, once worked out (the post-deploy wiring). */
  async access(): Promise<Omit<Target, "cloud"> | undefined> {
    return this.target ? await this.target : undefined;
  }

  private async run(command: (context: Context) => Promise<void>): Promise<void> {
    try {
      const target = await this.resolveTarget(async (path) => {
        let value: unknown = this.serverless.service;
        for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
        return value;
      });
      const write = (line: string) => this.utils.writeText(line);
      write(
        `FunctionGraph ${target.region}, project ${target.projectId}, credentials from ${target.credentials.source}`,
      );
      await command({
        functionGraph: new FunctionGraph(
          target.region,
          target.projectId,
          target.credentials,
          target.cloud,
        ),
        service: this.serverless.service,
        serviceDir: this.serverless.serviceDir,
        write,
      });
    } catch (error) {
      throw this.frameworkError(error);
    }
  }

  /** The framework prints its own errors as a message and exits non-zero; others are bugs. */
  private frameworkError(error: unknown): unknown {
    return error instanceof DeployError
      ? new this.serverless.classes.Error(error.message, "FUNCTIONGRAPH")
      : error;
  }

  private async regionOf(read: Read): Promise<string> {
    const region = this.options.region ?? (await read(["provider", "region"]));
    if (typeof region !== "string" || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
      throw new DeployError(
        `the region ${JSON.stringify(region ?? "")} is not a region id such as cn-north-4 (--region, or provider.region)`,
      );
    }
    return region;
  }

  /** Region, credentials, endpoints and project id: worked out once per command. */
  private resolveTarget(read: Read): Promise<Target> {
    this.target ??= (async () => {
      const region = await this.regionOf(read);
      const credentialsFile = (await read(["provider", "credentials"])) as string | undefined;
      const credentials = resolveCredentials(
        process.env,
        credentialsFile,
        this.serverless.serviceDir,
      );
      const cloud = cloudSettings(region, process.env);
      const given = String((await read(["provider", "projectId"])) ?? "").trim();
      const projectId = given || (await lookUpProjectId(region, credentials, cloud));
      return { region, projectId, credentials, cloud };
    })();
    return this.target;
  }
}
