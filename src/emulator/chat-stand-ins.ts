import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readBody, serveOnLoopback } from "./http";

/**
 * Loopback stand-ins for the chat platforms the function posts alerts to: DingTalk, WeCom,
 * Feishu/Lark, Slack, Teams (Workflows) and a generic webhook, each at its platform's path. Each
 * checks what its platform checks (the signature and its clock, the token, the body's shape and
 * size), answers with the platform's own success and error bodies and statuses (DingTalk, WeCom
 * and Feishu answer HTTP 200 with an error code), and limits the rate as the platform does
 * (DingTalk blocks a robot for 10 minutes after 20 messages in a minute; Slack answers 429 with
 * Retry-After). The facts are in ../shared/reference/chat-channels.md's sources.
 */

export type Platform = "dingtalk" | "wecom" | "feishu" | "slack" | "teams" | "webhook";

export interface Received {
  at: number;
  robot: string;
  platform: Platform;
  /** The body as posted (signature fields included). */
  body: Record<string, unknown>;
  /** Whether the platform took it (and would show it). */
  accepted: boolean;
  /** What the platform answered: its code, or `ok`. */
  answer: string;
}

export interface Robot {
  id: string;
  platform: Platform;
  /** The URL to configure, as the platform gives it. */
  url: string;
  secret?: string;
  /** Messages the platform took, in order. */
  accepted(): Received[];
  /** Every post, taken or refused. */
  posts(): Received[];
}

export interface RobotOptions {
  /** Sign requests (DingTalk: a `SEC…` secret; Feishu: any secret; webhook: HMAC of the body). */
  signed?: boolean;
  /** DingTalk/Feishu: the message must contain this word. */
  keyword?: string;
}

export interface ChatStandIns {
  url: string;
  robot(platform: Platform, options?: RobotOptions): Robot;
  /**
   * Until turned off, the robot answers as its platform does when it cannot take a message:
   * DingTalk and WeCom HTTP 200 with errcode -1 (system busy), Feishu HTTP 503, Slack 500
   * `rollup_error`, Teams and webhooks 503.
   */
  outage(robot: Robot, on: boolean): void;
  /** Posts refused for going faster than the platform takes, per robot. */
  rateRefusals(robot: Robot): number;
  /**
   * Each post waits `ms` before the platform reads it (0: none); a sender that goes away in that
   * time posted nothing. `inFlight` counts the posts waiting so.
   */
  hold(robot: Robot, ms: number): void;
  inFlight(robot: Robot): number;
  close(): Promise<void>;
}

interface State {
  robot: Robot;
  options: RobotOptions;
  times: number[];
  blockedUntil: number;
  outage: boolean;
  received: Received[];
  /** Teams: the `sig` of the URL. */
  sig?: string;
  holdMs: number;
  inFlight: number;
}

const LIMITS: Record<Platform, Array<{ limit: number; windowMs: number }>> = {
  dingtalk: [{ limit: 20, windowMs: 60_000 }],
  wecom: [{ limit: 20, windowMs: 60_000 }],
  feishu: [
    { limit: 100, windowMs: 60_000 },
    { limit: 5, windowMs: 1_000 },
  ],
  slack: [{ limit: 2, windowMs: 1_000 }],
  teams: [{ limit: 4, windowMs: 1_000 }],
  webhook: [],
};

const MAX_BODY = 1024 * 1024;

export async function startChatStandIns(
  options: { now?: () => number } = {},
): Promise<ChatStandIns> {
  const now = options.now ?? Date.now;
  const robots = new Map<string, State>();
  let base = "";

  const overRate = (state: State, time: number) => {
    const rules = LIMITS[state.robot.platform];
    const recent = state.times.filter((at) => at > time - 60_000);
    state.times = recent;
    return rules.some(
      (rule) => recent.filter((at) => at > time - rule.windowMs).length >= rule.limit,
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error.message));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = route(url);
    if (!found) return send(res, 404, "text/plain", "no such robot");
    const state = robots.get(found.id);
    if (state && state.holdMs > 0) {
      state.inFlight += 1;
      await new Promise((resolve) => setTimeout(resolve, state.holdMs));
      state.inFlight -= 1;
      // The sender went away before the platform read its message: nothing was posted.
      if (req.socket.destroyed) return;
    }
    const { body: raw, tooLarge } = await readBody(req, MAX_BODY);
    const text = raw.toString("utf8");
    const answer = (
      status: number,
      body: unknown,
      accepted: boolean,
      code: string,
      headers: Record<string, string> = {},
    ) => {
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {}
      if (state) {
        state.received.push({
          at: now(),
          robot: state.robot.id,
          platform: state.robot.platform,
          body: parsed,
          accepted,
          answer: code,
        });
        if (accepted) state.times.push(now());
      }
      const json = typeof body !== "string";
      send(
        res,
        status,
        json ? "application/json" : "text/html",
        json ? JSON.stringify(body) : body,
        headers,
      );
    };
    switch (found.platform) {
      case "dingtalk":
        return dingtalk(state, url, text, tooLarge, answer);
      case "wecom":
        return wecom(state, text, tooLarge, answer);
      case "feishu":
        return feishu(state, text, tooLarge, answer);
      case "slack":
        return slack(state, text, tooLarge, answer);
      case "teams":
        return teams(state, url, text, tooLarge, answer);
      case "webhook":
        return webhook(state, req, raw, tooLarge, answer);
    }
  }

  type Answer = (
    status: number,
    body: unknown,
    accepted: boolean,
    code: string,
    headers?: Record<string, string>,
  ) => void;

  function route(url: URL): { platform: Platform; id: string } | undefined {
    if (url.pathname === "/robot/send")
      return { platform: "dingtalk", id: url.searchParams.get("access_token") ?? "" };
    if (url.pathname === "/cgi-bin/webhook/send")
      return { platform: "wecom", id: url.searchParams.get("key") ?? "" };
    const feishuPath = /^\/open-apis\/bot\/v2\/hook\/([^/]+)$/.exec(url.pathname);
    if (feishuPath) return { platform: "feishu", id: feishuPath[1] ?? "" };
    const slackPath = /^\/services\/(T[^/]+\/B[^/]+\/[^/]+)$/.exec(url.pathname);
    if (slackPath) return { platform: "slack", id: slackPath[1] ?? "" };
    const teamsPath = /^\/workflows\/([^/]+)\/triggers\/manual\/paths\/invoke$/.exec(url.pathname);
    if (teamsPath) return { platform: "teams", id: teamsPath[1] ?? "" };
    const hookPath = /^\/hook\/([^/]+)$/.exec(url.pathname);
    if (hookPath) return { platform: "webhook", id: hookPath[1] ?? "" };
    return undefined;
  }

  function dingtalk(
    state: State | undefined,
    url: URL,
    text: string,
    tooLarge: boolean,
    answer: Answer,
  ) {
    const refuse = (errcode: number, errmsg: string) =>
      answer(200, { errcode, errmsg }, false, String(errcode));
    if (!state) return refuse(300001, "token is not exist");
    const time = now();
    if (state.blockedUntil > time)
      return refuse(130101, "send too fast, exceed 20 times per minute");
    if (state.robot.secret) {
      const timestamp = Number(url.searchParams.get("timestamp"));
      const sign = url.searchParams.get("sign") ?? "";
      if (!Number.isFinite(timestamp) || Math.abs(time - timestamp) > 3_600_000) {
        return refuse(310000, "sign not match, more: [timestamp is not within one hour]");
      }
      const expected = createHmac("sha256", state.robot.secret)
        .update(`${timestamp}\n${state.robot.secret}`)
        .digest("base64");
      if (!same(sign, expected)) return refuse(310000, "sign not match");
    }
    if (tooLarge || Buffer.byteLength(text) > 20_000) return refuse(460101, "message too long");
    const body = object(text);
    const shape = body && dingtalkShape(body);
    if (!body || shape) return refuse(40035, `缺少参数 ${shape ?? "json"}`);
    if (state.options.keyword && !text.includes(state.options.keyword)) {
      return refuse(310000, "keywords not in content");
    }
    if (state.outage) return refuse(-1, "系统繁忙");
    if (overRate(state, time)) {
      state.blockedUntil = time + 10 * 60_000;
      return refuse(130101, "send too fast, exceed 20 times per minute");
    }
    answer(200, { errcode: 0, errmsg: "ok" }, true, "ok");
  }

  function wecom(state: State | undefined, text: string, tooLarge: boolean, answer: Answer) {
    const refuse = (errcode: number, errmsg: string) =>
      answer(200, { errcode, errmsg }, false, String(errcode));
    if (!state) return refuse(93000, "invalid webhook url");
    const body = object(text);
    if (tooLarge || !body) return refuse(40058, "invalid json");
    const type = body.msgtype;
    const part =
      typeof type === "string" ? (body[type] as Record<string, unknown> | undefined) : undefined;
    if (type !== "text" && type !== "markdown") return refuse(40008, "invalid message type");
    const content = part?.content;
    if (typeof content !== "string" || content.length === 0) return refuse(44004, "empty content");
    const max = type === "text" ? 2048 : 4096;
    if (Buffer.byteLength(content) > max)
      return refuse(40058, `${type}.content exceed max length ${max}`);
    if (state.outage) return refuse(-1, "system busy");
    if (overRate(state, now())) return refuse(45009, "api freq out of limit");
    answer(200, { errcode: 0, errmsg: "ok" }, true, "ok");
  }

  function feishu(state: State | undefined, text: string, tooLarge: boolean, answer: Answer) {
    const refuse = (code: number, msg: string) =>
      answer(200, { code, msg, data: {} }, false, String(code));
    if (!state) return refuse(19001, "param invalid: incoming webhook access token invalid");
    if (tooLarge || Buffer.byteLength(text) > 20 * 1024) return refuse(9499, "Bad Request");
    const body = object(text);
    if (!body) return refuse(9499, "Bad Request");
    const time = now();
    if (state.robot.secret) {
      const timestamp = Number(body.timestamp);
      const expected = createHmac("sha256", `${body.timestamp}\n${state.robot.secret}`)
        .update("")
        .digest("base64");
      if (
        typeof body.timestamp !== "string" ||
        !Number.isFinite(timestamp) ||
        Math.abs(time / 1000 - timestamp) > 3600 ||
        !same(String(body.sign ?? ""), expected)
      ) {
        return refuse(
          19021,
          "sign match fail or timestamp is not within one hour from current time",
        );
      }
    }
    const type = body.msg_type;
    const valid =
      (type === "text" &&
        typeof (body.content as Record<string, unknown> | undefined)?.text === "string") ||
      (type === "post" && typeof body.content === "object") ||
      (type === "interactive" && typeof body.card === "object" && body.card !== null);
    if (!valid) return refuse(9499, "Bad Request");
    if (state.options.keyword && !text.includes(state.options.keyword))
      return refuse(19024, "Key Words Not Found");
    if (state.outage)
      return answer(503, { code: 9499, msg: "service unavailable" }, false, "HTTP 503");
    if (overRate(state, time)) return refuse(11232, "frequency limited");
    answer(
      200,
      { StatusCode: 0, StatusMessage: "success", code: 0, data: {}, msg: "success" },
      true,
      "ok",
    );
  }

  function slack(state: State | undefined, text: string, tooLarge: boolean, answer: Answer) {
    if (!state) return answer(404, "no_service", false, "no_service");
    const body = object(text);
    const blocks = body?.blocks;
    const valid =
      !tooLarge &&
      body !== undefined &&
      (typeof body.text === "string" || Array.isArray(blocks)) &&
      (!Array.isArray(blocks) || (blocks.length <= 50 && blocks.every(slackBlockValid)));
    if (!valid) return answer(400, "invalid_payload", false, "invalid_payload");
    if (state.outage) return answer(500, "rollup_error", false, "rollup_error");
    const time = now();
    if (overRate(state, time)) {
      return answer(429, "rate_limited", false, "HTTP 429", { "retry-after": "1" });
    }
    answer(200, "ok", true, "ok");
  }

  function teams(
    state: State | undefined,
    url: URL,
    text: string,
    tooLarge: boolean,
    answer: Answer,
  ) {
    const error = (status: number, code: string, message: string) =>
      answer(status, { error: { code, message } }, false, code);
    if (!url.searchParams.get("api-version")) {
      return error(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      );
    }
    if (!state || !same(url.searchParams.get("sig") ?? "", state.sig ?? "")) {
      return error(
        401,
        "DirectApiAuthorizationRequired",
        "The request must be authenticated only by Shared Access scheme.",
      );
    }
    if (tooLarge || Buffer.byteLength(text) > 28_000)
      return error(413, "RequestEntityTooLarge", "Request Entity too large");
    if (state.outage) return error(503, "ServiceUnavailable", "The service is unavailable.");
    if (overRate(state, now())) return error(429, "TooManyRequests", "Rate limit is exceeded.");
    // Workflows starts the flow whatever the body; a body without adaptive-card attachments makes
    // the run fail later, where only the flow's history shows it. Not shown here either.
    const body = object(text);
    const attachments = body?.attachments;
    const shown =
      Array.isArray(attachments) &&
      attachments.length > 0 &&
      attachments.every(
        (item) =>
          (item as Record<string, unknown>)?.contentType ===
            "application/vnd.microsoft.card.adaptive" &&
          ((item as Record<string, unknown>).content as Record<string, unknown> | undefined)
            ?.type === "AdaptiveCard",
      );
    answer(202, "", shown, shown ? "ok" : "flow run failed");
  }

  function webhook(
    state: State | undefined,
    req: IncomingMessage,
    raw: Buffer,
    tooLarge: boolean,
    answer: Answer,
  ) {
    if (!state) return answer(404, { error: "not found" }, false, "HTTP 404");
    if (tooLarge) return answer(413, { error: "too large" }, false, "HTTP 413");
    if (state.robot.secret) {
      const expected = `sha256=${createHmac("sha256", state.robot.secret).update(raw).digest("hex")}`;
      if (!same(String(req.headers["x-swr-scan-on-push-signature"] ?? ""), expected)) {
        return answer(401, { error: "bad signature" }, false, "HTTP 401");
      }
    }
    const body = object(raw.toString("utf8"));
    if (body?.version !== 1)
      return answer(400, { error: "not a version 1 alert" }, false, "HTTP 400");
    if (state.outage) return answer(503, { error: "unavailable" }, false, "HTTP 503");
    answer(200, { ok: true }, true, "ok");
  }

  const served = await serveOnLoopback(server);
  base = served.url;
  let counter = 0;
  return {
    url: base,
    robot(platform, robotOptions = {}) {
      counter += 1;
      const token = `${platform}${counter}${randomBytes(6).toString("hex")}`;
      let secret: string | undefined;
      let sig: string | undefined;
      let url: string;
      switch (platform) {
        case "dingtalk":
          secret = robotOptions.signed ? `SEC${randomBytes(24).toString("hex")}` : undefined;
          url = `${base}/robot/send?access_token=${token}`;
          break;
        case "wecom":
          url = `${base}/cgi-bin/webhook/send?key=${token}`;
          break;
        case "feishu":
          secret = robotOptions.signed ? randomBytes(16).toString("base64url") : undefined;
          url = `${base}/open-apis/bot/v2/hook/${token}`;
          break;
        case "slack":
          url = `${base}/services/T${counter}/B${counter}/${token}`;
          break;
        case "teams":
          // The `sig` in the query is the credential.
          sig = randomBytes(16).toString("base64url");
          url = `${base}/workflows/${token}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`;
          break;
        case "webhook":
          secret = robotOptions.signed ? randomBytes(16).toString("hex") : undefined;
          url = `${base}/hook/${token}`;
          break;
      }
      const id = platform === "slack" ? `T${counter}/B${counter}/${token}` : token;
      const state: State = {
        robot: {
          id,
          platform,
          url,
          ...(secret ? { secret } : {}),
          accepted: () => state.received.filter((item) => item.accepted),
          posts: () => [...state.received],
        },
        options: robotOptions,
        times: [],
        blockedUntil: 0,
        outage: false,
        received: [],
        holdMs: 0,
        inFlight: 0,
        ...(sig ? { sig } : {}),
      };
      robots.set(id, state);
      return state.robot;
    },
    outage(robot, on) {
      const state = robots.get(robot.id);
      if (state) state.outage = on;
    },
    hold(robot, ms) {
      const state = robots.get(robot.id);
      if (state) state.holdMs = ms;
    },
    inFlight(robot) {
      return robots.get(robot.id)?.inFlight ?? 0;
    },
    rateRefusals(robot) {
      const state = robots.get(robot.id);
      const codes = new Set(["130101", "45009", "11232", "HTTP 429", "TooManyRequests"]);
      return state ? state.received.filter((item) => codes.has(item.answer)).length : 0;
    },
    close: served.close,
  };
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { "content-type": type, ...headers });
  res.end(body);
}

function object(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function same(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The field DingTalk finds missing, or undefined when the body is one of its message types. */
function dingtalkShape(body: Record<string, unknown>): string | undefined {
  const part = (name: string) => body[name] as Record<string, unknown> | undefined;
  const str = (value: unknown) => typeof value === "string" && value.length > 0;
  switch (body.msgtype) {
    case "text":
      return str(part("text")?.content) ? undefined : "text.content";
    case "markdown":
      return str(part("markdown")?.title) && str(part("markdown")?.text)
        ? undefined
        : "markdown.title/text";
    case "actionCard": {
      const card = part("actionCard");
      if (!str(card?.title) || !str(card?.text)) return "actionCard.title/text";
      return (str(card?.singleTitle) && str(card?.singleURL)) || Array.isArray(card?.btns)
        ? undefined
        : "actionCard.singleURL";
    }
    case "link":
      return str(part("link")?.messageUrl) ? undefined : "link.messageUrl";
    default:
      return "msgtype";
  }
}

/** Slack's limits on the blocks this product sends: a header's 150 characters, a section's 3000. */
function slackBlockValid(block: unknown): boolean {
  const item = block as Record<string, unknown>;
  const textOf = (value: unknown) => (value as Record<string, unknown> | undefined)?.text;
  if (item?.type === "header") {
    const text = textOf(item.text);
    return typeof text === "string" && text.length <= 150;
  }
  if (item?.type === "section") {
    const text = textOf(item.text);
    const fields = item.fields as unknown[] | undefined;
    if (text !== undefined && (typeof text !== "string" || text.length > 3000)) return false;
    if (fields !== undefined && (!Array.isArray(fields) || fields.length > 10)) return false;
    return text !== undefined || fields !== undefined;
  }
  return item?.type === "actions" || item?.type === "divider" || item?.type === "context";
}
