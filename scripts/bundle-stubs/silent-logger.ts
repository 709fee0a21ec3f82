/**
 * Replaces the SDK core's log4js logger in the bundle. The core configures log4js at import time
 * (console appender on stdout, a file appender) and, on a failed request, logs the request config
 * with its signed headers. This project switches that logger off anyway, so the bundle carries a
 * logger that does nothing instead of log4js, fs-extra and streamroller.
 */
const ignore = (..._args: unknown[]): void => undefined;

export const Logger4jInstance = {
  level: "off",
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  fatal: ignore,
  isLevelEnabled: () => false,
};
