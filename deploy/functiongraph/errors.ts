/**
 * A failure the deploy explains in its message: what was being done, what the cloud answered
 * and what to check. The provider turns it into the framework's error, which exits non-zero.
 */
export class DeployError extends Error {
  override readonly name = "DeployError";
}

/** What FunctionGraph or IAM answered when it refused a call, without anything signed. */
export interface CloudAnswer {
  /** The HTTP status; absent when no answer came (refused connection, timeout). */
  status?: number;
  code?: string;
  message: string;
  requestId?: string;
}

/** A refused call: the step it was, the service's answer and what to check. */
export class CloudCallError extends DeployError {
  constructor(
    readonly step: string,
    readonly answer: CloudAnswer,
    readonly check: string,
  ) {
    super(
      `${step} failed: ${describeAnswer(answer)}.\n  Check: ${check}\n  The deploy can be run again: it picks up from what exists.`,
    );
  }
}

export function describeAnswer(answer: CloudAnswer): string {
  const parts = [
    answer.status === undefined ? "no answer" : `HTTP ${answer.status}`,
    answer.code,
    JSON.stringify(answer.message),
    answer.requestId ? `(request id ${answer.requestId})` : undefined,
  ];
  return parts.filter(Boolean).join(" ");
}
