import type { SignedCaller } from "../cloud/request";
import { SignedCallError } from "../cloud/signed-client";
import { ScanOnPushError } from "../errors";
import { EXIT } from "./scan-output";

/**
 * Whether HSS is there at all, judged from every call the `scan` command makes: a CI gate must
 * never wait on silence. It ends the run (exit 5, with a hint naming HSS_ENDPOINT / HSS_REGION):
 * - at once, when the endpoint cannot be reached (DNS, refused, TLS), or answers as something
 *   that is not HSS's API (404 without an HSS code, such as the gateway's APIGW.0101; a 2xx that
 *   is not JSON);
 * - after SILENT_CALLS_AT_MOST calls in a row got no answer within HSS_TIMEOUT_MS, or a 5xx, or
 *   sooner when the next attempt could not end within SILENCE_LIMIT_MS of the first of them.
 * Any other answer (HSS's own refusals and 429s included) shows HSS is there and starts the
 * count again. Once it has decided, every further call fails at once, so that nothing waits.
 */

/** Calls in a row without an answer (or with a 5xx) after which HSS counts as unreachable. */
export const SILENT_CALLS_AT_MOST = 3;
/** The longest the run waits on silence, from the first unanswered call. */
export const SILENCE_LIMIT_MS = 30_000;

const UNREACHABLE =
  /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|certificate|CERT_|SSL|self.signed|EPROTO/i;

/** HSS refused the caller, or cannot be reached: waiting longer changes nothing. */
export class FatalHssError extends ScanOnPushError {
  override readonly name = "FatalHssError";
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type Verdict = "answered" | "silent" | "not_hss" | "unreachable";

function verdictOf(error: SignedCallError | undefined): Verdict {
  if (!error) return "answered";
  const status = error.httpStatus;
  if (status === undefined) {
    if (error.errorCode === "CREDENTIALS_MISSING") return "answered";
    return UNREACHABLE.test(error.message) ? "unreachable" : "silent";
  }
  if (error.errorCode === "BAD_ANSWER") return "not_hss";
  if (status === 404 && !error.errorCode.startsWith("HSS.")) return "not_hss";
  return status >= 500 ? "silent" : "answered";
}

const said = (error: SignedCallError) =>
  `${error.errorCode}${error.httpStatus ? `, HTTP ${error.httpStatus}` : ""}: ${error.message}`;

const CHECK =
  "check HSS_ENDPOINT (or HSS_REGION: the endpoint is then https://hss.<region>.myhuaweicloud.com)";

export class Reachability {
  private silent = 0;
  private silentSince = 0;
  private decided?: FatalHssError;

  constructor(
    private readonly settings: { timeoutMs: number; now?: () => number },
    private readonly limits = { calls: SILENT_CALLS_AT_MOST, ms: SILENCE_LIMIT_MS },
  ) {}

  /** The error that ends the run, once HSS is known to be unreachable. */
  get fatal(): FatalHssError | undefined {
    return this.decided;
  }

  /** The caller, watched: each outcome counts, and once decided nothing more is sent. */
  watch(caller: SignedCaller, endpoint: string): SignedCaller {
    return {
      call: async (request, options) => {
        if (this.decided) {
          throw new SignedCallError(this.decided.message, undefined, "HSS_UNREACHABLE", undefined);
        }
        try {
          const answer = await caller.call(request, options);
          this.observe(undefined, endpoint, request.pathTemplate);
          return answer;
        } catch (error) {
          if (error instanceof SignedCallError) {
            this.observe(error, endpoint, `${request.method} ${request.pathTemplate}`);
          }
          throw error;
        }
      },
    };
  }

  /** One call's outcome: undefined when it was answered. */
  observe(error: SignedCallError | undefined, endpoint: string, call: string): void {
    const now = (this.settings.now ?? Date.now)();
    const verdict = verdictOf(error);
    if (verdict === "answered" || !error) {
      this.silent = 0;
      return;
    }
    if (verdict === "unreachable") {
      this.decide(
        `HSS at ${endpoint} cannot be reached (${said(error)}): ${CHECK}, DNS, and the network path (a proxy, a firewall, a VPC without NAT)`,
      );
      return;
    }
    if (verdict === "not_hss") {
      this.decide(`${endpoint} is not HSS's API: ${call} was answered ${said(error)}: ${CHECK}`);
      return;
    }
    if (this.silent === 0) this.silentSince = now;
    this.silent += 1;
    const nextWouldEnd = now + this.settings.timeoutMs - this.silentSince;
    if (this.silent >= this.limits.calls || nextWouldEnd > this.limits.ms) {
      const seconds = Math.round((now - this.silentSince + this.settings.timeoutMs) / 1000);
      this.decide(
        `HSS at ${endpoint} did not answer: ${this.silent} call${this.silent === 1 ? "" : "s"} in a row got no answer within HSS_TIMEOUT_MS (${this.settings.timeoutMs} ms) or a server error, over about ${seconds} s (last: ${said(error)}): ${CHECK}, and the network path (a proxy, a firewall that drops packets, a VPC without NAT)`,
      );
    }
  }

  private decide(message: string): void {
    this.decided ??= new FatalHssError(EXIT.unreachable, message);
  }
}
