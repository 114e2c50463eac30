#!/usr/bin/env node
// The `varsel` command (package.json "bin"; `npm start` runs `varsel serve` from the compiled
// dist/ with node itself, so signals reach the server). Subcommands live in server/cli/.
import { run } from "./cli/program.js";

const code = await run(process.argv);
// A failure ends at once (nothing half-open keeps the process); success lets stdout drain.
if (code !== undefined && code !== 0) process.exit(code);
if (code === 0) process.exitCode = 0;
