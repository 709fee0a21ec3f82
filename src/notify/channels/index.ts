import type { ChannelModule, ChannelType } from "./channel";
import { dingtalk } from "./dingtalk";
import { feishu, lark } from "./feishu";
import { slack } from "./slack";
import { smn } from "./smn";
import { teams } from "./teams";
import { webhook } from "./webhook";
import { wecom } from "./wecom";

/** Every channel this product can post to: a new platform is one module and one line here. */
export const CHANNELS: Record<ChannelType, ChannelModule> = {
  dingtalk,
  wecom,
  feishu,
  lark,
  slack,
  teams,
  smn,
  webhook,
};

export type { ChannelModule, ChannelSettings, ChannelType, Verdict } from "./channel";
