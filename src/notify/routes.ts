import {
  choiceField,
  flagField,
  listField,
  objectField,
  recordField,
  textField,
  wholeField,
} from "../variables";
import { type Alert, atOrAbove, type MinSeverity } from "./alert";
import type { ChannelSettings } from "./channels/channel";
import { CHANNEL_TYPES, channelModule } from "./channels/index";

/**
 * Which channels hear about which images. NOTIFY_CHANNELS names each channel (its platform, URL,
 * signing secret or SMN topic); NOTIFY_ROUTES sends alerts about matching images to channels,
 * the first route that matches deciding unless it says `"continue": true`. Without routes, every
 * channel gets every alert at or above NOTIFY_MIN_SEVERITY.
 */

const name = textField({ max: 64, trim: true });
const secretText = textField({ max: 2048 });
const globs = listField(textField({ max: 256, trim: true }));

/** NOTIFY_CHANNELS: channel name → its platform, URL, signing secret or topic, and rate. */
export const readChannels = recordField(
  name,
  objectField(
    {
      type: choiceField(CHANNEL_TYPES),
      url: secretText,
      secret: secretText,
      topic: secretText,
      per_minute: wholeField(1, 1000),
    },
    ["type"],
  ),
);

/** NOTIFY_ROUTES: which images' alerts go to which channels, in order. */
export const readRoutes = listField(
  objectField(
    {
      name,
      channels: listField(name, { min: 1 }),
      min_severity: choiceField(["critical", "high", "medium", "low"]),
      only_fixed: flagField,
      instances: listField(textField({ max: 256, trim: true })),
      namespaces: globs,
      repositories: globs,
      continue: flagField,
    },
    ["channels"],
  ),
);

export type ChannelDefinition = NonNullable<ReturnType<typeof readChannels>>[string];
export type RouteDefinition = NonNullable<ReturnType<typeof readRoutes>>[number];

export interface Route {
  /** `name`, or `route-<n>` (1-based) when it has none: part of each alert's key. */
  name: string;
  channels: string[];
  minSeverity: MinSeverity;
  onlyFixed: boolean;
  matches(alert: Alert): boolean;
  continue: boolean;
}

export interface NotifySettings {
  channels: ChannelSettings[];
  routes: Route[];
}

/** A glob matcher compiled on first use: the configuration is read at every cold start. */
function matcher(patterns: string[] | undefined): ((value: string) => boolean) | undefined {
  if (!patterns?.length) return undefined;
  let compiled: ((value: string) => boolean) | undefined;
  return (value) => {
    compiled ??= (require("picomatch") as typeof import("picomatch"))(patterns, { dot: true });
    return compiled(value);
  };
}

/**
 * The channels and routes, from NOTIFY_CHANNELS / NOTIFY_ROUTES and the older NOTIFY_WEBHOOK_URL
 * and NOTIFY_SMN_TOPIC (channels named `webhook` and `smn`). Every problem is returned at once.
 */
export interface NotifyInput {
  channels?: Record<string, ChannelDefinition>;
  routes?: RouteDefinition[];
  webhookUrl?: string;
  smnTopic?: string;
  minSeverity: MinSeverity;
}

export function compileNotify(input: NotifyInput): {
  settings: NotifySettings;
  problems: string[];
} {
  const problems: string[] = [];
  const channels = channelsOf(input, problems);
  for (const channel of channels) {
    problems.push(...channelProblems(channel).map((problem) => `NOTIFY_CHANNELS ${problem}`));
  }
  const routes = routesOf(input, channels, problems);
  if (input.routes?.length && channels.length === 0) {
    problems.push("NOTIFY_ROUTES: there are routes but no channels (NOTIFY_CHANNELS)");
  }
  if (routes.length === 0 && channels.length > 0) {
    routes.push({
      name: "default",
      channels: channels.map((channel) => channel.name),
      minSeverity: input.minSeverity,
      onlyFixed: false,
      continue: false,
      matches: () => true,
    });
  }
  return { settings: { channels, routes }, problems };
}

/** NOTIFY_CHANNELS's channels, and the older variables' as `webhook` and `smn`. */
function channelsOf(input: NotifyInput, problems: string[]): ChannelSettings[] {
  const channels: ChannelSettings[] = Object.entries(input.channels ?? {}).map(
    ([channelName, channel]) => ({ name: channelName, ...channel }),
  );
  const legacy = (settings: ChannelSettings, variable: string) => {
    if (channels.some((channel) => channel.name === settings.name)) {
      problems.push(
        `${variable}: NOTIFY_CHANNELS already has a channel named "${settings.name}"; configure it in one place`,
      );
    } else channels.push(settings);
  };
  if (input.webhookUrl) {
    legacy({ name: "webhook", type: "webhook", url: input.webhookUrl }, "NOTIFY_WEBHOOK_URL");
  }
  if (input.smnTopic) {
    legacy({ name: "smn", type: "smn", topic: input.smnTopic }, "NOTIFY_SMN_TOPIC");
  }
  return channels;
}

/** What is wrong with one channel: its module's checks, a secret it cannot use, a rate above its platform's. */
function channelProblems(channel: ChannelSettings): string[] {
  const module = channelModule(channel.type);
  // Each module refuses what its platform cannot use (a secret where it has no signing).
  const found = module.check(channel);
  if (channel.per_minute !== undefined) {
    const platform = Math.min(
      ...module.rate.map((rule) => Math.floor((rule.limit * 60_000) / rule.windowMs)),
    );
    if (channel.per_minute > platform) {
      found.push(
        `${channel.name}: "per_minute" ${channel.per_minute} is above what ${module.title} takes (${platform})`,
      );
    }
  }
  return found;
}

function routesOf(input: NotifyInput, channels: ChannelSettings[], problems: string[]): Route[] {
  const known = new Set(channels.map((channel) => channel.name));
  const routes: Route[] = (input.routes ?? []).map((definition, index) => {
    const routeName = definition.name ?? `route-${index + 1}`;
    for (const channelName of definition.channels) {
      if (!known.has(channelName)) {
        problems.push(
          `NOTIFY_ROUTES ${routeName}: no channel named "${channelName}" (NOTIFY_CHANNELS has ${[...known].join(", ") || "none"})`,
        );
      }
    }
    const namespaces = matcher(definition.namespaces);
    const repositories = matcher(definition.repositories);
    const instances = definition.instances?.length ? new Set(definition.instances) : undefined;
    return {
      name: routeName,
      channels: definition.channels,
      minSeverity: definition.min_severity ?? input.minSeverity,
      onlyFixed: definition.only_fixed ?? false,
      continue: definition.continue ?? false,
      matches: (alert: Alert) =>
        (!instances || (alert.instance_id !== undefined && instances.has(alert.instance_id))) &&
        (!namespaces || namespaces(alert.namespace)) &&
        (!repositories || repositories(alert.repository)),
    };
  });
  const names = routes.map((route) => route.name);
  for (const duplicate of new Set(names.filter((routeName, i) => names.indexOf(routeName) !== i))) {
    problems.push(`NOTIFY_ROUTES: two routes are named "${duplicate}"`);
  }
  return routes;
}

/**
 * The (route, channel) pairs an alert goes to: routes in order, the first that matches deciding
 * unless it says `continue`. A route matches the image (instance, namespace, repository) and the
 * findings (at or above its severity; with `only_fixed`, at least one finding with a fix, or
 * findings not read, which may have one).
 */
export function routeAlert(
  routes: readonly Route[],
  alert: Alert,
): Array<{ route: string; channel: string }> {
  const out: Array<{ route: string; channel: string }> = [];
  const seen = new Set<string>();
  for (const route of routes) {
    if (!route.matches(alert)) continue;
    const severe = atOrAbove(alert.severity, route.minSeverity);
    const fixable =
      !route.onlyFixed ||
      alert.vulnerabilities.length === 0 ||
      alert.vulnerabilities.some((vulnerability) => vulnerability.fix);
    if (severe && fixable) {
      for (const channel of route.channels) {
        if (seen.has(channel)) continue;
        seen.add(channel);
        out.push({ route: route.name, channel });
      }
    }
    if (!route.continue) break;
  }
  return out;
}
