/**
 * Replaces modules that the SDK core and axios load but this function never runs: multipart
 * uploads (form-data, with the 140 KB mime-db) and HTTP proxies (https-proxy-agent). Using one
 * throws, so that a future change that needs it fails loudly instead of silently.
 */
function unsupported(feature: string): never {
  throw new Error(`${feature} is not included in the swr-scan-on-push bundle`);
}

class FormData {
  constructor() {
    unsupported("multipart form data");
  }
}

function createHttpsProxyAgent(): never {
  return unsupported("an HTTPS proxy");
}

export { createHttpsProxyAgent, FormData };
