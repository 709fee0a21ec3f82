import { createHttpsProxyAgent } from "./unsupported";

export default createHttpsProxyAgent;
