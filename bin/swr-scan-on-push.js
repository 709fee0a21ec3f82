#!/usr/bin/env node
"use strict";
// The commands, bundled by scripts/build-cli.ts (run by `prepare`).
require("../dist-cli/swr-scan-on-push.js");
