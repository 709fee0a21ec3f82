import { randomUUID } from "node:crypto";

/**
 * The SDK core imports uuid only to create an application id when no user agent is given; this
 * function always gives one. Node's own generator stands in for the package.
 */
export const v4 = (): string => randomUUID();
