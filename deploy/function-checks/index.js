// This function's own checks around a deploy (`plugins: [./deploy/function-checks]` in
// serverless.yml), in TypeScript run through tsx like the provider.
const { require: requireTypeScript } = require("tsx/cjs/api");

module.exports = requireTypeScript("./checks.ts", __filename).FunctionChecks;
