/**
 * modbtf's command line. Each command is one entry of COMMANDS: its argument,
 * options, help (summary, example, exit codes) and what it runs. A plain
 * command line is parsed from this table (argv.ts); help, --version and the
 * usage errors yargs reports are yargs' (usage.ts, loaded only for those). The
 * work starts once every option has been checked, so a usage error (exit 2)
 * never reads or writes a module. A command loads its modules when it runs.
 */
import { SEC_BASE_MINIMAL } from '../btf/sections.js';
import { ModbtfError } from '../errors.js';
import { DEFAULT_MAX_INPUT_SIZE, setDefaultMaxInputSize } from '../module/limits.js';
import { readAhead } from '../module/readahead.js';
import { parsePlain } from './argv.js';
import type { TaskKind, TaskOptions } from './batch.js';
import type { SignOptions } from './common.js';
import { EXIT_FAIL, EXIT_USAGE, describeError, stdio, type Output } from './io.js';
import {
  GLOBAL_OPTIONS, OPT_JOBS, OPT_JSON, OPT_RECURSIVE, OUTPUT_OPTIONS, SECTION_CHOICES, kernelOption,
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
  // The kernel BTF and the module (of a run on one) are read on the thread pool while the
  // command's code loads. A batch reads each module ahead of its turn (runBatch).
  const kernel = 'kernel' in opts ? opts.kernel : opts.base;
  if (kernel !== undefined) readAhead(kernel);
  if (p.args.length === 1) readAhead(p.args[0]!);
  const [{ expandInputs, runBatch }, { checkOutputOptions }] = await Promise.all([import('./batch.js'), import('./common.js')]);
  const files = expandInputs(p.args, bool(p.opts.recursive), io);
  if (files.length === 0) return EXIT_FAIL;
  checkOutputOptions(files, opts);
  const jobs = typeof p.opts.jobs === 'number' ? p.opts.jobs : undefined;
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
      { name: 'keep-module-funcs', type: 'boolean', default: false, describe: 'keep the module\'s functions the kernel has too (same name, linkage and prototype), which pahole folds into the kernel\'s: each keeps a BTF id in the module (to attach to it)' },
      ...OUTPUT_OPTIONS,
    ],
    example: { command: '$0 map --base /sys/kernel/btf/vmlinux mymod.ko', describe: 'replace mymod.ko\'s standalone BTF by split BTF on the running kernel' },
    exits: EXITS_WRITE,
    check: checkOutput,
    run: (p, io) => batch('map', p, { base: str(p.opts.base)!, keepModuleFuncs: bool(p.opts['keep-module-funcs']), ...outputOpts(p.opts) }, io),
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
      const [{ expandInputs }, { cmdCheck }] = await Promise.all([import('./batch.js'), import('./commands.js')]);
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
    run: async (p, io) => (await import('./commands.js')).cmdInspect({ files: p.args, json: bool(p.opts.json) }, io),
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
    run: async (p, io) => (await import('./commands.js')).cmdDump({ file: p.args[0]!, base: str(p.opts.base), format: p.opts.format as 'raw' | 'json' | 'c' }, io),
  },
  {
    name: 'extract',
    arg: { name: 'file', shown: 'FILE', many: false, describe: 'module, vmlinux, raw BTF, or any arch\'s boot image (vmlinuz)' },
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
    run: async (p, io) => (await import('./commands.js')).cmdExtract({ file: p.args[0]!, section: str(p.opts.section)!, output: str(p.opts.output)!, json: bool(p.opts.json) }, io),
  },
  {
    name: 'min-core',
    arg: { name: 'objects', shown: 'OBJECT...', many: true, describe: 'BPF objects (.bpf.o), or programs embedding them (libbpf skeletons)' },
    summary: 'the minimal kernel BTF a BPF program\'s CO-RE relocations need (as bpftool gen min_core_btf, plus module types)',
    options: [
      kernelOption('kernel', { required: true, describe: 'vmlinux BTF (raw BTF, vmlinux ELF or vmlinuz) to minimize' }),
      { name: 'module', alias: ['m'], type: 'string', repeatable: true, value: 'MOD', describe: 'a module whose types the programs read (.ko, compressed, distilled or split on --kernel, or raw split BTF); searched together with vmlinux' },
      { name: 'output', alias: ['o'], type: 'string', value: 'FILE', describe: 'write the minimized BTF here (`-` for stdout): one standalone BTF, vmlinux and modules merged' },
      { name: 'split', type: 'boolean', default: false, describe: 'write DIR/vmlinux.btf and DIR/MODULE.btf (split on that vmlinux) instead (needs --out-dir)' },
      { name: 'out-dir', type: 'string', value: 'DIR', describe: 'directory for --split, or for the minimized tree with -r' },
      { name: 'report', type: 'boolean', default: false, describe: 'list every relocation that found no target or failed, per object and program' },
      { name: 'recursive', alias: ['r'], type: 'boolean', default: false, describe: '--kernel is a BTFHub-style tree (DISTRO/VERSION/ARCH/RELEASE.btf or .btf.tar.xz): minimize every kernel in it, into --out-dir (the same tree) and/or a bcc-style tarball (--tar)' },
      { name: 'tar', type: 'string', value: 'FILE', describe: 'with -r: write the minimized tree as a reproducible .tar.gz laid out as bcc\'s min_core_btfs.tar.gz' },
      { ...OPT_JOBS, describe: 'with -r: worker threads, one kernel at a time each (default: the number of cores)' },
      OPT_JSON,
    ],
    example: { command: '$0 min-core --kernel vmlinux-6.1.btf -o 6.1.btf --report ./execsnoop', describe: 'the BTF execsnoop\'s embedded BPF object needs on that kernel, and what it cannot find there' },
    exits: 'Exit codes: 0 written, 1 bad input or a relocation libbpf refuses (nothing written), 2 usage error (nothing read).',
    check: (p) => {
      const o = p.opts;
      if (o.recursive) {
        if (o.output !== undefined) throw usage('-o does not go with -r (the tree\'s kernels are written under --out-dir and/or to --tar)');
        if ((o.module as string[] | undefined)?.length) throw usage('--module does not go with -r (a BTFHub tree holds vmlinux BTF only)');
        if (o.split) throw usage('--split does not go with -r');
        if (o.report) throw usage('--report does not go with -r (--json gives each kernel\'s count of relocations without a target)');
        if (o['out-dir'] === undefined && o.tar === undefined) throw usage('-r needs --out-dir DIR and/or --tar FILE');
        if (o.tar === '-') throw usage('--tar needs a file name');
        return;
      }
      if (o.tar !== undefined) throw usage('--tar goes with -r');
      if (o.jobs !== undefined) throw usage('--jobs goes with -r');
      if (o.split) {
        if (o['out-dir'] === undefined) throw usage('--split needs --out-dir');
        if (o.output !== undefined) throw usage('--split writes into --out-dir, not -o');
      } else {
        if (o.output === undefined) throw usage('-o is required (or --split --out-dir DIR)');
        if (o['out-dir'] !== undefined) throw usage('--out-dir goes with --split');
      }
      if (o.output === '-' && o.json) throw usage('-o - and --json cannot be used together (both write to stdout)');
    },
    run: async (p, io) => {
      if (p.opts.recursive) {
        const [{ cmdMinCoreArchive }, { defaultJobs }] = await Promise.all([import('./archive.js'), import('./batch.js')]);
        return cmdMinCoreArchive({
          files: p.args, kernel: str(p.opts.kernel)!, outDir: str(p.opts['out-dir']), tar: str(p.opts.tar),
          jobs: typeof p.opts.jobs === 'number' ? p.opts.jobs : defaultJobs(), json: bool(p.opts.json),
        }, io, io === stdio);
      }
      readAhead(str(p.opts.kernel)!); // read on the thread pool while the command's code loads
      return (await import('./core.js')).cmdMinCore({
        files: p.args, kernel: str(p.opts.kernel)!, modules: (p.opts.module as string[] | undefined) ?? [],
        output: str(p.opts.output), split: bool(p.opts.split), outDir: str(p.opts['out-dir']), report: bool(p.opts.report), json: bool(p.opts.json),
      }, io);
    },
  },
  {
    name: 'core-check',
    arg: { name: 'objects', shown: 'OBJECT...', many: true, describe: 'BPF objects (.bpf.o), or programs embedding them (libbpf skeletons)' },
    summary: 'which CO-RE relocations of BPF programs fail on which kernels (writes nothing)',
    options: [
      kernelOption('kernel', { required: true, repeatable: true, describe: 'kernel BTF (raw BTF, vmlinux ELF or vmlinuz); give it once per kernel' }),
      { name: 'module', alias: ['m'], type: 'string', repeatable: true, value: 'MOD', describe: 'a module whose types the programs read (with one --kernel)' },
      { name: 'verbose', alias: ['v'], type: 'boolean', default: false, describe: 'list every relocation with its target and value' },
      { name: 'strict', type: 'boolean', default: false, describe: 'exit 1 for a poisoned relocation too (one whose instruction libbpf replaces: fine only where it is never reached)' },
      OPT_JSON,
    ],
    example: { command: '$0 core-check -k /sys/kernel/btf/vmlinux -k vmlinux-6.1.btf ./runqslower', describe: 'the relocations of runqslower\'s BPF object that fail on each kernel' },
    exits: 'Exit codes: 0 no relocation is refused by libbpf (poisoned ones are listed; --strict counts them), 1 some are refused or bad input, 2 usage error (nothing read).',
    check: (p) => {
      if ((p.opts.module as string[] | undefined)?.length && (p.opts.kernel as string[]).length > 1) throw usage('--module goes with one --kernel (module BTF is split on one vmlinux)');
    },
    run: async (p, io) => (await import('./core.js')).cmdCoreCheck({
      files: p.args, kernels: p.opts.kernel as string[], modules: (p.opts.module as string[] | undefined) ?? [],
      verbose: bool(p.opts.verbose), strict: bool(p.opts.strict), json: bool(p.opts.json),
    }, io),
  },
];

/** Run modbtf with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: string[], io: Output = stdio): Promise<number> {
  // `modbtf --version` alone, as yargs prints it (the version probe of scripts and packagers).
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    io.out(modbtfVersion());
    return 0;
  }
  let chosen = parsePlain(COMMANDS, GLOBAL_OPTIONS, argv);
  if (!chosen) {
    const { parseWithYargs } = await import('./usage.js');
    let r;
    try {
      r = parseWithYargs(COMMANDS, argv, `Run 'modbtf COMMAND --help' for a command's arguments, options and an example.\n${EXITS_WRITE}`);
    } catch (e) {
      io.err(`modbtf: ${describeError(e)}`);
      return EXIT_USAGE;
    }
    if (r.usageError !== null) {
      io.err(`${r.chosen ? `modbtf: ${r.chosen.cmd.name}: ` : 'modbtf: '}${r.usageError}`);
      return EXIT_USAGE;
    }
    if (!r.chosen) {
      // --help or --version: yargs rendered the text.
      if (r.text) io.out(r.text);
      return 0;
    }
    chosen = r.chosen;
  }
  const cmd = chosen.cmd;
  const prefix = `modbtf: ${cmd.name}: `;
  let parsed: Parsed;
  try {
    const a = chosen.argv;
    const pos = a[cmd.arg.name];
    parsed = {
      args: (Array.isArray(pos) ? pos : [pos]).map(String),
      opts: validateOptions([...cmd.options, ...GLOBAL_OPTIONS], a, argv),
    };
    cmd.check?.(parsed);
    const max = parsed.opts['max-input-size'];
    setDefaultMaxInputSize(typeof max === 'number' ? max : DEFAULT_MAX_INPUT_SIZE);
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

export async function main(argv: string[]): Promise<void> {
  const rc = await run(argv);
  process.exitCode = rc;
}
