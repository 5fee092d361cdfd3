/** What the command-line tools share: strict flag parsing and one way to end (exit codes, one-line errors). */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../config.js';

/** A bad flag or a request the configuration cannot serve: one line, exit 2, nothing done. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses `argv` strictly (no positionals, no unknown flags); a problem is a UsageError naming the flag. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>({
      args: argv,
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    const code = (err as { code?: string }).code;
    const flags = Object.keys(options)
      .map((name) => `--${name}`)
      .join(', ');
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec((err as Error).message)?.[1] ?? 'flag';
      throw new UsageError(`unknown flag ${flag} (the flags are ${flags})`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec((err as Error).message)?.[1] ?? '';
      throw new UsageError(
        `unexpected argument ${JSON.stringify(arg)}: every value follows its flag (${flags})`,
      );
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /'(--[\w-]+)/.exec((err as Error).message)?.[1] ?? 'a flag';
      const type = options[flag.slice(2)]?.type;
      if (type === 'boolean') throw new UsageError(`${flag} takes no value`);
      // "ambiguous": the next argument begins with "-", which parseArgs will not take as a value.
      const dash = /ambiguous/.test((err as Error).message)
        ? ` (one beginning with "-" is written ${flag}=<value>)`
        : '';
      throw new UsageError(`${flag} needs a value${dash}`);
    }
    throw err;
  }
}

/**
 * Runs a command's main and sets the exit code: main's own, 2 for a UsageError or a ConfigError (nothing
 * was done), 1 for anything else. Errors are one line on stderr, prefixed with the command's name.
 */
export async function runCli(command: string, main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const usage = err instanceof UsageError || err instanceof ConfigError;
    process.stderr.write(
      `${command}: ${err instanceof ConfigError ? 'configuration error: ' : ''}${message}\n`,
    );
    process.exitCode = usage ? 2 : 1;
  }
}
