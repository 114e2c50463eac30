// The `varsel` command: one module per subcommand in this folder (serve, token, migrate, check;
// add a new one as its own module and one `addCommand` line below). Bad options and settings end
// with one line on stderr and exit code 2; a failure at run time (a store that cannot be
// reached, a port in use) with one line and exit code 1; never a stack trace.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { packageFile } from "../../engine/package-root.js";
import { backtestCommand } from "./backtest.js";
import { checkCommand } from "./check.js";
import { migrateCommand } from "./migrate.js";
import { serveCommand } from "./serve.js";
import { simulateCommand } from "./simulate.js";
import { environmentHelp, SettingError } from "./settings.js";
import { tokenCommand } from "./token.js";

/** Exit codes: a bad option or setting; a failure while running. */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

/** A message as one line: commander's "error: " prefix and line breaks gone. */
function oneLine(message: string): string {
  return message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim();
}

function version(): string {
  return (JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command("varsel")
    .description("Real-time threshold evaluation for home monitoring of chronic patients")
    .version(version(), "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`varsel: ${oneLine(text)}\n`) })
    .addHelpText("after", environmentHelp());
  const commands = [serveCommand(), tokenCommand(), migrateCommand(), checkCommand(), simulateCommand(), backtestCommand()];
  for (const command of commands) program.addCommand(command.copyInheritedSettings(program), { isDefault: command.name() === "serve" });
  return program;
}

/** Runs the command line; resolves with the exit code, or undefined while a server keeps running. */
export async function run(argv: readonly string[]): Promise<number | undefined> {
  try {
    await buildProgram().parseAsync(argv as string[]);
    return undefined;
  } catch (err) {
    // Commander printed its own refusal (one line, see configureOutput); help and --version end here with 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`varsel: ${oneLine(message)}\n`);
    return err instanceof SettingError ? EXIT_USAGE : EXIT_FAILURE;
  }
}
