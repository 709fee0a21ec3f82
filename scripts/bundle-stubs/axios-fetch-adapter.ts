/**
 * Replaces axios's fetch adapter in the bundle. At import time it probes `fetch`, `Request` and
 * `ReadableStream`, which makes Node.js load its internal undici (about 15 ms of every cold
 * start). The function talks to HSS through axios's http adapter, which axios prefers in Node.js
 * anyway; reporting fetch as unavailable leaves that choice unchanged.
 */
export const getFetch = (): false => false;

export default false;
