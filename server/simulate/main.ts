// Runs `varsel simulate` on its own (`npx tsx server/simulate/main.ts --patients 50 ...`) until the
// `varsel` command (server/cli/program.ts) carries it. Exit codes as the varsel command's: 2 for
// a bad option, 1 for a failure at run time (one line on stderr, never a stack trace).
import { CommanderError } from "commander";
import { simulateCommand } from "../cli/simulate.js";

const command = simulateCommand()
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`varsel simulate: ${text.replace(/^error: /, "").trim()}\n`) });
try {
  await command.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else {
    process.stderr.write(`varsel simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
