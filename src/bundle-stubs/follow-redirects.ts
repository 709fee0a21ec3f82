/**
 * Replaces follow-redirects for axios in the bundle: every HSS request is sent with
 * `maxRedirects: 0` (a signed request must not be replayed elsewhere), so axios uses Node's own
 * http/https and never these wrappers.
 */
const refuse = {
  request(): never {
    throw new Error("redirects are not followed by swr-scan-on-push");
  },
};

export default { http: refuse, https: refuse };
