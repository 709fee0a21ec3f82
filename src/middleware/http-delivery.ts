import type { MiddlewareObj } from "@middy/core";
import { ConfigError } from "../config";
import { type Delivery, recogniseDelivery } from "../delivery";
import { HttpError } from "../errors";
import { httpStatusOf, type ScanReport } from "../report";

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

/**
 * Turns whatever the platform delivered into a `Delivery` before the handler runs, and shapes the
 * answer after it: HTTP deliveries get an APIG / API Gateway response with a JSON body (errors
 * included); direct invocations get the report itself, and errors stay errors so that the
 * invocation fails.
 */
export function httpDelivery(): MiddlewareObj<unknown, unknown, Error> {
  const isHttp = (event: unknown) => (event as Delivery | undefined)?.kind === "http";
  return {
    before(request) {
      request.event = recogniseDelivery(request.event);
    },
    after(request) {
      if (!isHttp(request.event)) return;
      const report = request.response as ScanReport;
      request.response = jsonResponse(httpStatusOf(report), report);
    },
    onError(request) {
      if (!isHttp(request.event) || request.error === null) return;
      request.response = errorResponse(request.error);
    },
  };
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

function errorResponse(error: Error): HttpResponse {
  if (error instanceof HttpError) {
    const report = error.report as ScanReport | undefined;
    const body = report
      ? { ...report, message: error.message }
      : { status: "rejected", message: error.message };
    return jsonResponse(error.statusCode, body, error.headers);
  }
  if (error instanceof ConfigError) {
    return jsonResponse(500, { status: "misconfigured", message: error.message });
  }
  return jsonResponse(500, {
    status: "error",
    message: "internal error; the function's log has the details",
  });
}
