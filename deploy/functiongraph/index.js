// The FunctionGraph provider, as osls loads a plugin (`plugins: [./deploy/functiongraph]` in
// serverless.yml): its TypeScript is run through tsx (a development dependency of the project),
// in a namespace of its own, so that nothing else osls loads is compiled.
const { require: requireTypeScript } = require("tsx/cjs/api");

module.exports = requireTypeScript("./provider.ts", __filename).FunctionGraphProvider;
