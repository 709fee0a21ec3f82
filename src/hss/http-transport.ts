import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import {
  type AxiosAdapter,
  AxiosError,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from "axios";

/**
 * An axios adapter on Node's own http/https, used for the SDK core's requests to HSS instead of
 * axios's general-purpose http adapter (redirects, proxies, decompression, streams, HTTP/2, form
 * data), none of which a signed JSON request to HSS needs, and whose loading and first request
 * are a large part of the function's cold start. It honours what the client sets: the timeout, the
 * abort signal and `validateStatus`. The SDK core still builds and signs every request.
 */

/** HSS answers with an empty body or a small JSON error; anything bigger is not HSS. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export const nodeHttpTransport: AxiosAdapter = (config) =>
  new Promise((resolve, reject) => {
    const url = requestUrl(config);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers = { "accept-encoding": "identity", ...config.headers.toJSON(true) } as Record<
      string,
      string
    >;
    const body =
      typeof config.data === "string" || Buffer.isBuffer(config.data) ? config.data : undefined;
    if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));

    let settled = false;
    const fail = (error: AxiosError) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    const request: ClientRequest = send(url, { method: config.method?.toUpperCase(), headers });
    const onAbort = () => {
      request.destroy();
      fail(new AxiosError("canceled", AxiosError.ERR_CANCELED, config, request));
    };
    config.signal?.addEventListener?.("abort", onAbort, { once: true });

    if (config.timeout) {
      request.setTimeout(config.timeout, () => {
        request.destroy();
        fail(
          new AxiosError(
            `timeout of ${config.timeout}ms exceeded`,
            AxiosError.ECONNABORTED,
            config,
            request,
          ),
        );
      });
    }
    request.on("error", (error: NodeJS.ErrnoException) => {
      fail(new AxiosError(error.message, error.code ?? AxiosError.ERR_NETWORK, config, request));
    });
    request.on("response", (incoming: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          request.destroy();
          fail(new AxiosError("response too large", AxiosError.ERR_BAD_RESPONSE, config, request));
          return;
        }
        chunks.push(chunk);
      });
      incoming.on("error", (error) =>
        fail(new AxiosError(error.message, AxiosError.ERR_NETWORK, config, request)),
      );
      incoming.on("end", () => {
        if (settled) return;
        settled = true;
        config.signal?.removeEventListener?.("abort", onAbort);
        const status = incoming.statusCode ?? 0;
        const response: AxiosResponse = {
          data: Buffer.concat(chunks).toString("utf8"),
          status,
          statusText: incoming.statusMessage ?? "",
          headers: incoming.headers as AxiosResponse["headers"],
          config,
          request,
        };
        if (!config.validateStatus || config.validateStatus(status)) {
          resolve(response);
          return;
        }
        reject(
          new AxiosError(
            `Request failed with status code ${status}`,
            status < 500 ? AxiosError.ERR_BAD_REQUEST : AxiosError.ERR_BAD_RESPONSE,
            config,
            request,
            response,
          ),
        );
      });
    });
    request.end(body);
  });

function requestUrl(config: InternalAxiosRequestConfig): URL {
  const path = config.url ?? "";
  const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(`${config.baseURL ?? ""}${path}`);
  const serialize = (
    config.paramsSerializer as { serialize?: (params: unknown) => string } | undefined
  )?.serialize;
  const query =
    config.params && Object.keys(config.params).length > 0
      ? serialize
        ? serialize(config.params)
        : new URLSearchParams(config.params).toString()
      : "";
  if (query) url.search = url.search ? `${url.search}&${query}` : `?${query}`;
  return url;
}
