/**
 * Replaces axios's own http adapter in the bundle: every request the function makes carries
 * `adapter: nodeHttpTransport` (src/hss/http-transport.ts), so axios's adapter, with redirects,
 * proxies, decompression, streams, HTTP/2 and form data, would only be loaded, never run.
 */
export default false;
