/**
 * The plain command line, parsed from the option table without loading yargs:
 * `COMMAND [--opt VALUE | --opt=VALUE | -x VALUE | --flag | ARG]...`, global
 * options before the command too. It gives exactly what yargs gives for those
 * forms (the values the option table names). Anything else — --help, `help`,
 * --version, an unknown option or command, a missing or extra argument, a
 * value that looks like an option, `--`, `-abc`, `--no-x`, `--flag=true` —
 * is left to yargs (undefined), which renders the help or the usage error.
 */
import type { CommandSpec } from './main.js';
import type { OptionSpec } from './options.js';

export interface PlainParse {
  cmd: CommandSpec;
  /** Values by option name as yargs gives them (one value, or a list when given more than once), and the positional argument. */
  argv: Record<string, unknown>;
}

function find(specs: readonly OptionSpec[], name: string): OptionSpec | undefined {
  for (const s of specs) {
    if (s.name === name) return s;
    if (s.alias) for (const a of s.alias) if (a === name) return s;
  }
  return undefined;
}

/** `argv` parsed as yargs would, or undefined when yargs must see it. */
export function parsePlain(commands: readonly CommandSpec[], globals: readonly OptionSpec[], argv: readonly string[]): PlainParse | undefined {
  let cmd: CommandSpec | undefined;
  let specs = globals;
  const values = new Map<OptionSpec, (string | true)[]>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '' || t === '-') return undefined;
    if (t[0] !== '-') {
      if (cmd) {
        // yargs shows the help for a `help` anywhere among the arguments.
        if (t === 'help') return undefined;
        args.push(t);
        continue;
      }
      cmd = commands.find((c) => c.name === t);
      if (!cmd) return undefined;
      specs = [...cmd.options, ...globals];
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (t[1] === '-') {
      const eq = t.indexOf('=');
      name = eq < 0 ? t.slice(2) : t.slice(2, eq);
      inline = eq < 0 ? undefined : t.slice(eq + 1);
      // One letter after `--`, or a spelling yargs would also read as camelCase or dotted.
      if (name.length < 2 || !/^[a-z][a-z0-9-]*[a-z0-9]$/.test(name) || name.startsWith('no-')) return undefined;
    } else {
      if (t.length !== 2 || !/^[A-Za-z]$/.test(t[1]!)) return undefined;
      name = t[1]!;
    }
    const spec = find(specs, name);
    if (!spec) return undefined;
    let list = values.get(spec);
    if (!list) values.set(spec, (list = []));
    if (spec.type === 'boolean') {
      const next = argv[i + 1];
      if (inline !== undefined || next === 'true' || next === 'false' || list.length) return undefined;
      list.push(true);
      continue;
    }
    let v = inline;
    if (v === undefined) {
      v = argv[i + 1];
      // `-o -` is stdout (yargs reads `--output -` as no value); any other value starting with '-' is yargs' to read.
      if (v === undefined || (v[0] === '-' && (v !== '-' || t[1] === '-'))) return undefined;
      i++;
    }
    if (v === '') return undefined;
    list.push(v);
  }
  if (!cmd || args.length === 0 || (!cmd.arg.many && args.length > 1)) return undefined;
  const out: Record<string, unknown> = { [cmd.arg.name]: cmd.arg.many ? args : args[0] };
  for (const [spec, list] of values) out[spec.name] = list.length === 1 ? list[0] : list;
  return { cmd, argv: out };
}
