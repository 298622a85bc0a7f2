/**
 * The yargs side of the command line: the help texts, --version, and every
 * usage error yargs reports (unknown options and commands, missing
 * arguments). Loaded only when the plain parser (argv.ts) leaves a command
 * line to it.
 */
import yargs, { type Argv } from 'yargs';
import type { CommandSpec } from './main.js';
import { GLOBAL_OPTIONS, declareOptions, flag } from './options.js';
import { modbtfVersion } from './version.js';

export interface YargsResult {
  /** The command yargs ran, with its parsed values (by every spelling). */
  chosen?: { cmd: CommandSpec; argv: Record<string, unknown> };
  /** A usage error, already one line naming the option or argument. */
  usageError: string | null;
  /** What --help or --version rendered. */
  text: string;
}

/**
 * yargs renders and caches a command's whole help text every time the command
 * runs, in case its handler fails and help must be shown. modbtf reports its
 * own failures, so that rendering (over 10 ms of each run) is skipped; --help
 * is unaffected. Guarded: without the internal hook nothing changes.
 */
function skipHelpCache(parser: object): void {
  type Internals = { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
  const get = (parser as { getInternalMethods?: () => Internals }).getInternalMethods;
  const usage = typeof get === 'function' ? get.call(parser).getUsageInstance?.() : undefined;
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/** yargs' own messages, made one line naming the option or argument. */
function usageLine(msg: string, cmd: CommandSpec | undefined, tokens: readonly string[]): string {
  const unknown = /^Unknown arguments?: (.*)$/s.exec(msg);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    const shown = names.map((n) => {
      const f = flag(n);
      const typed = tokens.some((t) => t === f || t.startsWith(`${f}=`) || (n.length === 1 && /^-[A-Za-z]+$/.test(t) && t.includes(n)));
      return typed ? f : `'${n}'`;
    });
    const opts = shown.filter((s) => s.startsWith('-'));
    if (!cmd && !opts.length) return `unknown command ${shown[0]}`;
    if (!cmd) return `unknown option${opts.length > 1 ? 's' : ''} ${opts.join(', ')} (a command's options go after it: modbtf COMMAND --help)`;
    if (opts.length) return `unknown option${opts.length > 1 ? 's' : ''} ${opts.join(', ')}`;
    return `unexpected argument${shown.length > 1 ? 's' : ''} ${shown.join(', ')}`;
  }
  if (/^Not enough non-option arguments/.test(msg)) {
    return cmd ? `missing ${cmd.arg.shown} argument` : 'a command is required';
  }
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** Parse `argv` with yargs over `commands`; throws only what a yargs handler threw. */
export function parseWithYargs(commands: readonly CommandSpec[], argv: readonly string[], epilogue: string): YargsResult {
  let chosen: YargsResult['chosen'];
  let usageError: string | null = null;
  let text = '';
  let parser: Argv = yargs()
    .scriptName('modbtf')
    .usage('$0 <command> [options]\n\nMake the BTF of out-of-tree Linux kernel modules survive kernel updates.')
    .epilogue(epilogue);
  for (const cmd of commands) {
    const pos = cmd.arg.many ? `<${cmd.arg.name}..>` : `<${cmd.arg.name}>`;
    parser = parser.command(`${cmd.name} ${pos}`, cmd.summary, (y) => declareOptions(y
      .positional(cmd.arg.name, { type: 'string', array: cmd.arg.many, describe: cmd.arg.describe, default: undefined })
      .example(cmd.example.command, cmd.example.describe)
      .epilogue(cmd.exits), cmd.options),
    (a) => {
      chosen = { cmd, argv: a as Record<string, unknown> };
    });
  }
  // Options of every command, accepted before the command name too.
  parser = declareOptions(parser, GLOBAL_OPTIONS);
  parser = parser
    .demandCommand(1, 'a command is required')
    .strict()
    .help()
    .alias('h', 'help')
    .version(modbtfVersion())
    .alias('V', 'version')
    .wrap(null)
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  skipHelpCache(parser);
  parser.parse([...argv], {}, (_err, _a, output) => {
    text = output;
  });
  const line = usageError === null ? null : usageLine(usageError, chosen?.cmd, argv);
  return { chosen, usageError: line, text };
}
