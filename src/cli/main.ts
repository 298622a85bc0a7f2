/**
 * modbtf's command line. Each command is one entry of COMMANDS: its argument,
 * options, help (summary, example, exit codes) and what it runs. yargs parses;
 * the command's handler only records what was parsed, and the work starts once
 * every option has been checked, so a usage error (exit 2) never reads or
 * writes a module.
 */
import yargs, { type Argv } from 'yargs';
import { SEC_BASE_MINIMAL } from '../btf/sections.js';
import { ModbtfError } from '../errors.js';
import {
  EXIT_FAIL, EXIT_USAGE, cmdCheck, cmdDump, cmdExtract, cmdInspect,
} from './commands.js';
import { defaultJobs, expandInputs, runBatch, type TaskKind, type TaskOptions } from './batch.js';
import { checkOutputOptions, describeError, stdio, type Output, type SignOptions } from './common.js';
import {
  GLOBAL_OPTIONS, OPT_JSON, OPT_RECURSIVE, OUTPUT_OPTIONS, SECTION_CHOICES, declareOptions, flag, kernelOption,
  validateOptions, type OptionSpec, type OptionValue,
} from './options.js';
import { modbtfVersion } from './version.js';

const DEFAULT_KERNEL = '/sys/kernel/btf/vmlinux';

const EXITS_WRITE = 'Exit codes: 0 done (a module that needs nothing is left alone), 1 bad input or a failed operation (the input is left untouched; in a batch the others are still done), 2 usage error (nothing read or written).';
const EXITS_READ = 'Exit codes: 0 done, 1 bad input, 2 usage error (nothing read).';

/** Parsed and checked: positional values, and option values by long name. */
export interface Parsed {
  args: string[];
  opts: Record<string, OptionValue | undefined>;
}

export interface CommandSpec {
  name: string;
  /** The positional argument: its name in help and whether several are taken. */
  arg: { name: string; many: boolean; describe: string; shown: string };
  /** One line for `modbtf --help`. */
  summary: string;
  options: readonly OptionSpec[];
  example: { command: string; describe: string };
  exits: string;
  /** Checks beyond single options (conflicts, combinations); throws E_USAGE. */
  check?: (p: Parsed) => void;
  run: (p: Parsed, io: Output) => Promise<number>;
}

const str = (v: OptionValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const bool = (v: OptionValue | undefined): boolean => v === true;
const usage = (msg: string): ModbtfError => new ModbtfError('E_USAGE', msg);

function signOptions(o: Parsed['opts']): SignOptions | undefined {
  const key = str(o['sign-key']);
  const cert = str(o['sign-cert']);
  if (!key && !cert) return undefined;
  return { key: key!, cert: cert!, tool: str(o['sign-tool']), hash: str(o['sign-hash']) };
}

/** Conflicts among the output options, before anything is read. */
function checkOutput(p: Parsed): void {
  const o = p.opts;
  if (o.output !== undefined && o['out-dir'] !== undefined) throw usage('-o and --out-dir cannot be used together');
  if (o.output !== undefined && p.args.length !== 1) throw usage('-o takes exactly one module; use --out-dir for several');
  if (o.output === '-' && o.json) throw usage('-o - and --json cannot be used together (both write to stdout)');
  if (o.output === '-' && o.recursive) throw usage('-o - takes one module, not -r');
  if ((o['sign-key'] === undefined) !== (o['sign-cert'] === undefined)) throw usage('--sign-key and --sign-cert go together');
  if (o['out-dir'] === '-') throw usage('--out-dir: \'-\' is not a directory (use -o - for stdout)');
}

/** distill/reconcile/map: expand directories, check output names, run over workers. */
async function batch(kind: TaskKind, p: Parsed, opts: TaskOptions, io: Output): Promise<number> {
  const files = expandInputs(p.args, bool(p.opts.recursive), io);
  if (files.length === 0) return EXIT_FAIL;
  checkOutputOptions(files, opts);
  const jobs = typeof p.opts.jobs === 'number' ? p.opts.jobs : defaultJobs(files);
  return runBatch(kind, opts, files, jobs, io, io === stdio && !opts.json);
}

function outputOpts(o: Parsed['opts']) {
  return { json: bool(o.json), output: str(o.output), outDir: str(o['out-dir']), sign: signOptions(o) };
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'distill',
    arg: { name: 'modules', shown: 'MODULE...', many: true, describe: 'modules to distill (.ko, .ko.xz, .ko.zst, .ko.gz), or directories with -r' },
    summary: 'make a module\'s BTF portable: split BTF on a minimal base carried in the module',
    options: [
      kernelOption('base', { describe: 'vmlinux (ELF, raw BTF or vmlinuz) the module was built against (default: /lib/modules/RELEASE/build/vmlinux for its vermagic, or the running kernel\'s BTF)' }),
      { name: 'section', type: 'choice', choices: SECTION_CHOICES, default: SEC_BASE_MINIMAL, value: 'NAME', describe: 'section for the distilled base (.BTF.base: relocated by kernels >= 6.11 at load)' },
      { name: 'force', type: 'boolean', default: false, describe: 'distill again a module already distilled or reconciled' },
      ...OUTPUT_OPTIONS,
    ],
    example: { command: '$0 distill --base /sys/kernel/btf/vmlinux mymod.ko', describe: 'distill mymod.ko in place against the running kernel' },
    exits: EXITS_WRITE,
    check: checkOutput,
    run: (p, io) => batch('distill', p, {
      base: str(p.opts.base), section: str(p.opts.section)!, force: bool(p.opts.force), ...outputOpts(p.opts),
    }, io),
  },
  {
    name: 'reconcile',
    arg: { name: 'modules', shown: 'MODULE...', many: true, describe: 'distilled modules to rewrite (others are left alone), or directories with -r' },
    summary: 'rewrite a distilled module\'s .BTF as plain split BTF on a target kernel',
    options: [
      kernelOption('kernel', { default: DEFAULT_KERNEL, describe: 'target kernel BTF (raw BTF, vmlinux ELF or vmlinuz)' }),
      { name: 'strip', type: 'boolean', default: false, describe: 'drop the distilled pair (no later reconcile possible)' },
      { name: 'strict', type: 'boolean', default: false, describe: 'exit 1 for a module that is not distilled' },
      { name: 'dedup', type: 'boolean', default: false, describe: 'fold split types equal to kernel types into references to them' },
      ...OUTPUT_OPTIONS,
    ],
    example: { command: '$0 reconcile --kernel /boot/vmlinuz-6.12.0 mymod.ko.xz', describe: 'reconcile mymod.ko.xz in place onto that kernel' },
    exits: EXITS_WRITE,
    check: checkOutput,
    run: (p, io) => batch('reconcile', p, {
      kernel: str(p.opts.kernel)!, strip: bool(p.opts.strip), strict: bool(p.opts.strict), dedup: bool(p.opts.dedup), ...outputOpts(p.opts),
    }, io),
  },
  {
    name: 'map',
    arg: { name: 'modules', shown: 'MODULE...', many: true, describe: 'modules with standalone BTF (pahole -J without a base), or directories with -r' },
    summary: 'turn standalone module BTF (pahole -J without a base) into split BTF on vmlinux',
    options: [
      kernelOption('base', { required: true, describe: 'vmlinux (ELF, raw BTF or vmlinuz) to map onto' }),
      ...OUTPUT_OPTIONS,
    ],
    example: { command: '$0 map --base /sys/kernel/btf/vmlinux mymod.ko', describe: 'replace mymod.ko\'s standalone BTF by split BTF on the running kernel' },
    exits: EXITS_WRITE,
    check: checkOutput,
    run: (p, io) => batch('map', p, { base: str(p.opts.base)!, ...outputOpts(p.opts) }, io),
  },
  {
    name: 'check',
    arg: { name: 'modules', shown: 'MODULE...', many: true, describe: 'distilled modules, or directories with -r' },
    summary: 'can these distilled modules be reconciled onto these kernels? (writes nothing)',
    options: [
      kernelOption('kernel', { required: true, repeatable: true, describe: 'target kernel BTF (raw BTF, vmlinux ELF or vmlinuz); give it once per kernel' }),
      OPT_RECURSIVE,
      OPT_JSON,
    ],
    example: { command: '$0 check -k /boot/vmlinuz-6.12.0 -k /boot/vmlinuz-6.18.0 mymod.ko', describe: 'a matrix of modules x kernels, then the reasons for each failure' },
    exits: 'Exit codes: 0 every module can be reconciled onto every kernel (or is not distilled), 1 some cannot or bad input, 2 usage error (nothing read).',
    run: async (p, io) => {
      const files = expandInputs(p.args, bool(p.opts.recursive), io);
      if (files.length === 0) return EXIT_FAIL;
      return cmdCheck({ files, kernels: p.opts.kernel as string[], json: bool(p.opts.json) }, io);
    },
  },
  {
    name: 'inspect',
    arg: { name: 'files', shown: 'FILE...', many: true, describe: 'modules, vmlinux, kernel BTF, boot images, BPF objects (compressed or not)' },
    summary: 'show what a file is: BTF sections, sizes, type counts, state, signature',
    options: [OPT_JSON],
    example: { command: '$0 inspect /lib/modules/$(uname -r)/kernel/net/ipv4/tcp_bbr.ko.xz', describe: 'sections, state and signature of a module' },
    exits: EXITS_READ,
    run: (p, io) => cmdInspect({ files: p.args, json: bool(p.opts.json) }, io),
  },
  {
    name: 'dump',
    arg: { name: 'file', shown: 'FILE', many: false, describe: 'raw BTF, vmlinux, boot image or module (compressed or not)' },
    summary: 'print BTF as `bpftool btf dump file` does',
    options: [
      { name: 'base', alias: ['B'], type: 'string', value: 'FILE', describe: 'base BTF of split BTF (for a module: its vmlinux, raw BTF or ELF); a distilled module is relocated onto it, or refused if it does not fit (without --base it is shown on its own distilled base)' },
      { name: 'format', type: 'choice', choices: ['raw', 'json', 'c'], default: 'raw', value: 'FORMAT', describe: 'raw: as bpftool prints; json: as bpftool -j; c: a C header (vmlinux.h), as bpftool ... format c' },
    ],
    example: { command: '$0 dump --base /sys/kernel/btf/vmlinux mymod.ko', describe: 'the module\'s split BTF, as bpftool btf dump file mymod.ko -B vmlinux' },
    exits: EXITS_READ,
    run: (p, io) => cmdDump({ file: p.args[0]!, base: str(p.opts.base), format: p.opts.format as 'raw' | 'json' | 'c' }, io),
  },
  {
    name: 'extract',
    arg: { name: 'file', shown: 'FILE', many: false, describe: 'module, vmlinux, boot image or raw BTF (compressed or not)' },
    summary: 'write a BTF section of a vmlinuz, vmlinux or module as raw BTF',
    options: [
      { name: 'output', alias: ['o'], type: 'string', required: true, value: 'FILE', describe: 'raw BTF written here (`-` for stdout)' },
      { name: 'section', type: 'string', default: '.BTF', value: 'NAME', describe: 'BTF section to write' },
      OPT_JSON,
    ],
    example: { command: '$0 extract /boot/vmlinuz-$(uname -r) -o vmlinux.btf', describe: 'the kernel\'s BTF from its boot image, for pahole --btf_base' },
    exits: EXITS_READ,
    check: (p) => {
      if (p.opts.output === '-' && p.opts.json) throw usage('-o - and --json cannot be used together (both write to stdout)');
    },
    run: (p, io) => cmdExtract({ file: p.args[0]!, section: str(p.opts.section)!, output: str(p.opts.output)!, json: bool(p.opts.json) }, io),
  },
];

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

/** Run modbtf with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: string[], io: Output = stdio): Promise<number> {
  let chosen: { cmd: CommandSpec; argv: Record<string, unknown> } | undefined;
  let usageError: string | null = null;
  let text = '';
  let parser: Argv = yargs()
    .scriptName('modbtf')
    .usage('$0 <command> [options]\n\nMake the BTF of out-of-tree Linux kernel modules survive kernel updates.')
    .epilogue(`Run 'modbtf COMMAND --help' for a command's arguments, options and an example.\n${EXITS_WRITE}`);
  for (const cmd of COMMANDS) {
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
  try {
    parser.parse(argv, {}, (_err, _a, output) => {
      text = output;
    });
  } catch (e) {
    io.err(`modbtf: ${describeError(e)}`);
    return EXIT_USAGE;
  }
  const cmd = chosen?.cmd;
  const prefix = cmd ? `modbtf: ${cmd.name}: ` : 'modbtf: ';
  if (usageError !== null) {
    io.err(`${prefix}${usageLine(usageError, cmd, argv)}`);
    return EXIT_USAGE;
  }
  if (!chosen || !cmd) {
    // --help or --version: yargs rendered the text.
    if (text) io.out(text);
    return 0;
  }
  let parsed: Parsed;
  try {
    const a = chosen.argv;
    const pos = a[cmd.arg.name];
    parsed = {
      args: (Array.isArray(pos) ? pos : [pos]).map(String),
      opts: validateOptions([...cmd.options, ...GLOBAL_OPTIONS], a, argv),
    };
    cmd.check?.(parsed);
  } catch (e) {
    io.err(`${prefix}${e instanceof ModbtfError ? e.message : describeError(e)}`);
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(parsed, io);
  } catch (e) {
    io.err(`modbtf: ${describeError(e)}`);
    return e instanceof ModbtfError && e.code === 'E_USAGE' ? EXIT_USAGE : EXIT_FAIL;
  }
}

/** A closed stdout (`modbtf dump ... | head`) ends the run quietly: what is left to say has no reader. */
function quietOnClosedPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    process.stderr.write(`modbtf: cannot write to stdout: ${e.message}\n`);
    process.exit(EXIT_FAIL);
  });
}

export async function main(argv: string[]): Promise<void> {
  quietOnClosedPipe();
  const rc = await run(argv);
  process.exitCode = rc;
}
