import { Logger4jInstance } from "@huaweicloud/huaweicloud-sdk-core/logger/log4jLogger";

/**
 * The one module that loads Huawei Cloud's SDK (installed in deploy/node_modules), for the
 * provider and for the tests that call the FunctionGraph stand-in as the SDK would.
 */

// The SDK core logs a failed request through log4js at ERROR with its signed headers (the access
// key id and the signature): nothing of the SDK's own logging is wanted here.
Logger4jInstance.level = "off";

export { BasicCredentials } from "@huaweicloud/huaweicloud-sdk-core";
export { ClientBuilder } from "@huaweicloud/huaweicloud-sdk-core/ClientBuilder";
export type { HcClient } from "@huaweicloud/huaweicloud-sdk-core/HcClient";
export * from "@huaweicloud/huaweicloud-sdk-functiongraph";
