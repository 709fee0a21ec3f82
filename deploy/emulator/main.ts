import {
  emulatorDeployEnvironment,
  type FunctionGraphRequest,
  startFunctionGraphEmulator,
} from "./functiongraph-emulator";

/**
 * `npm run functiongraph-emulator [-- --port 8090]`: the loopback FunctionGraph (and IAM)
 * stand-in the deploy tests use, on its own, to try `npm run deploy`, `info` and `remove` without
 * a cloud account. It prints the environment that points the deploy tools at it, then one line
 * per request (method, path, status; never a header or a body).
 */
async function main(args: string[]): Promise<void> {
  const portIndex = args.indexOf("--port");
  const port = portIndex >= 0 ? Number(args[portIndex + 1]) : 8090;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    process.stderr.write("usage: npm run functiongraph-emulator [-- --port 8090]\n");
    process.exit(2);
  }
  const emulator = await startFunctionGraphEmulator({
    port,
    onRequest: (request: FunctionGraphRequest) =>
      process.stderr.write(`${request.method} ${request.path} -> ${request.status}\n`),
  });
  const exports = Object.entries(emulatorDeployEnvironment(emulator))
    .map(([name, value]) => `export ${name}=${value}`)
    .join("\n");
  process.stdout.write(
    `FunctionGraph and IAM stand-in on ${emulator.url} (region ${emulator.region}, project ${emulator.projectId}).\nIn another shell:\n${exports}\n`,
  );
  const stop = () => void emulator.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

void main(process.argv.slice(2));
