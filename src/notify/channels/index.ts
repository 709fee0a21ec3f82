import type { ChannelModule } from "./channel";
import { dingtalk } from "./dingtalk";
import { feishu, lark } from "./feishu";
import { slack } from "./slack";
import { smn } from "./smn";
import { teams } from "./teams";
import { webhook } from "./webhook";
import { wecom } from "./wecom";

/** Every channel this product can post to: a new platform is one module and one line here. */
export const CHANNELS = {
  dingtalk,
  wecom,
  feishu,
  lark,
  slack,
  teams,
  smn,
  webhook,
} satisfies Record<string, ChannelModule>;

/** The types NOTIFY_CHANNELS takes: the registry's names. */
export type ChannelType = keyof typeof CHANNELS;
export const CHANNEL_TYPES = Object.keys(CHANNELS) as [ChannelType, ...ChannelType[]];

/** The module of a configured channel (its type was checked against the registry at start). */
export function channelModule(type: string): ChannelModule {
  const module = (CHANNELS as Record<string, ChannelModule>)[type];
  if (!module) throw new Error(`no channel module for type ${type}`);
  return module;
}

export type { ChannelModule, ChannelSettings, Verdict } from "./channel";
