// Node's `assert` for redis-errors, loaded when first called (when a reply cannot be parsed):
// redis-errors requires it when it loads, which loaded assert and set up stderr, about 0.8 ms of
// every cold start with a Redis queue. It calls assert(value) and assert.strictEqual only.
const load = () => require("node:assert");
module.exports = Object.assign((...args) => load()(...args), {
  strictEqual: (...args) => load().strictEqual(...args),
});
