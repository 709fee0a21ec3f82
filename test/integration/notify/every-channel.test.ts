import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testChannels } from "../../../src/cli/notify";
import { loadConfig } from "../../../src/config";
import { type ChatStandIns, startChatStandIns } from "../../../src/emulator/chat-stand-ins";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { CHANNELS } from "../../../src/notify/channels";

/**
 * Every registered channel type posts its sample alert to its platform's stand-in, which answers as
 * the platform does: a new channel without a stand-in here fails the first test.
 */

let chat: ChatStandIns;
let hss: HssEmulator;
beforeAll(async () => {
  chat = await startChatStandIns();
  hss = await startHssEmulator({ rateLimit: false });
});
afterAll(async () => {
  await chat.close();
  await hss.close();
});

/** Each channel type's settings, pointed at its stand-in. */
const STAND_INS: Record<string, () => Record<string, unknown>> = {
  dingtalk: () => {
    const robot = chat.robot("dingtalk", { signed: true });
    return { url: robot.url, secret: robot.secret };
  },
  wecom: () => ({ url: chat.robot("wecom").url }),
  feishu: () => {
    const robot = chat.robot("feishu", { signed: true });
    return { url: robot.url, secret: robot.secret };
  },
  lark: () => {
    const robot = chat.robot("feishu", { signed: true });
    return { url: robot.url, secret: robot.secret };
  },
  slack: () => ({ url: chat.robot("slack").url }),
  teams: () => ({ url: chat.robot("teams").url }),
  webhook: () => {
    const robot = chat.robot("webhook", { signed: true });
    return { url: robot.url, secret: robot.secret };
  },
  // SMN's publish is served by the HSS emulator, signed like every Huawei Cloud call.
  smn: () => ({ topic: `urn:smn:cn-north-4:${hss.projectId}:alerts` }),
};

describe("every registered notification channel", () => {
  it("has a stand-in here", () => {
    expect(Object.keys(CHANNELS).filter((type) => !(type in STAND_INS))).toEqual([]);
  });

  it.each(Object.keys(CHANNELS))(
    "%s: its platform's stand-in takes the sample alert",
    async (type) => {
      const settings = (STAND_INS[type] as () => Record<string, unknown>)();
      const config = loadConfig({
        ...emulatorEnvironment(hss),
        SMN_ENDPOINT: hss.url,
        NOTIFY_CHANNELS: JSON.stringify({ [type]: { type, ...settings } }),
      });
      const published = hss.notifications().length;

      const answers = await testChannels(config.notify.channels, config);

      expect(answers).toEqual([expect.objectContaining({ channel: type, ok: true })]);
      if (type === "smn") expect(hss.notifications()).toHaveLength(published + 1);
    },
  );
});
