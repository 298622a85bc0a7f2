/** modbtf's command line: parses arguments with yargs and runs one command. */
import yargs, { type Argv } from 'yargs';
import { SEC_BASE_MINIMAL } from '../btf/sections.js';
import { ModbtfError } from '../errors.js';
import {
  EXIT_FAIL, EXIT_USAGE, cmdCheck, cmdDump, cmdExtract, cmdInspect,
} from './commands.js';
import { defaultJobs, expandInputs, runBatch } from './batch.js';
import { checkOutputOptions, describeError, stdio, type Output, type SignOptions } from './common.js';

const DEFAULT_KERNEL = '/sys/kernel/btf/vmlinux';

function signOptions(a: { signKey?: string; signCert?: string; signTool?: string; signHash?: string }): SignOptions | undefined {
  if (!a.signKey && !a.signCert) return undefined;
  if (!a.signKey || !a.signCert) throw new ModbtfError('E_USAGE', '--sign-key and --sign-cert go together');
  return { key: a.signKey, cert: a.signCert, tool: a.signTool, hash: a.signHash };
}

function outputOptions<T>(y: Argv<T>) {
  return y
    .option('output', { alias: 'o', type: 'string', describe: 'write the result here (one module only)' })
    .option('out-dir', { type: 'string', describe: 'write results into this directory, under their own names' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object per module on stdout' })
    .option('sign-key', { type: 'string', describe: 're-sign with this private key (kernel sign-file)' })
    .option('sign-cert', { type: 'string', describe: 'certificate for --sign-key' })
    .option('sign-tool', { type: 'string', describe: 'path of sign-file (default: found in the kernel build tree or linux-kbuild)' })
    .option('sign-hash', { type: 'string', default: 'sha512', describe: 'hash algorithm for sign-file' })
    .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'process the *.ko* modules under directories given' })
    .option('jobs', { alias: 'j', type: 'number', describe: 'worker threads for several modules (default: the number of cores)' });
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

/** Run modbtf with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: string[], io: Output = stdio): Promise<number> {
  let code: number | undefined;
  let usageError: string | null = null;
  const parser = yargs(argv)
    .scriptName('modbtf')
    .usage('$0 <command> [options]\n\nMake the BTF of out-of-tree kernel modules survive kernel updates.')
    .command('dump <file>', 'print BTF as `bpftool btf dump file` does', (y) => y
      .positional('file', { type: 'string', demandOption: true, describe: 'raw BTF, vmlinux or module (compressed or not)' })
      .option('base', { alias: 'B', type: 'string', describe: 'base BTF for split BTF (vmlinux, raw BTF)' })
      .option('format', { choices: ['raw', 'json'] as const, default: 'raw' as const }),
    async (a) => {
      code = await cmdDump({ file: a.file, base: a.base, format: a.format }, io);
    })
    .command('extract <file>', 'write a BTF section of a vmlinuz, vmlinux or module as raw BTF', (y) => y
      .positional('file', { type: 'string', demandOption: true })
      .option('section', { type: 'string', default: '.BTF' })
      .option('output', { alias: 'o', type: 'string', demandOption: true }),
    async (a) => {
      code = await cmdExtract({ file: a.file, section: a.section, output: a.output }, io);
    })
    .command('inspect <files..>', 'show BTF sections, sizes, type counts and state', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true })
      .option('json', { type: 'boolean', default: false }),
    async (a) => {
      code = await cmdInspect({ files: a.files, json: a.json }, io);
    })
    .command('distill <modules..>', 'replace .BTF with split BTF on a minimal base carried in the module', (y) => outputOptions(y
      .positional('modules', { type: 'string', array: true, demandOption: true })
      .option('base', { alias: 'B', type: 'string', describe: 'vmlinux (ELF or raw BTF) the module was built against' })
      .option('section', { type: 'string', default: SEC_BASE_MINIMAL, describe: 'section for the distilled base (.BTF.base: relocated natively by kernels >= 6.11)' })
      .option('force', { type: 'boolean', default: false, describe: 'distill again a module already distilled or reconciled' })),
    async (a) => {
      const files = expandInputs(a.modules, a.recursive);
      const opts = { base: a.base, section: a.section, force: a.force, json: a.json, output: a.output, outDir: a.outDir, sign: signOptions(a) };
      checkOutputOptions(files, opts);
      code = await runBatch('distill', opts, files, a.jobs ?? defaultJobs(), io, io === stdio && !a.json);
    })
    .command('reconcile <modules..>', 'rewrite a distilled module\'s .BTF as plain split BTF on a target kernel', (y) => outputOptions(y
      .positional('modules', { type: 'string', array: true, demandOption: true })
      .option('kernel', { alias: 'k', type: 'string', default: DEFAULT_KERNEL, describe: 'target kernel BTF (raw BTF or vmlinux ELF)' })
      .option('strip', { type: 'boolean', default: false, describe: 'drop the distilled pair (no later reconcile possible)' })
      .option('strict', { type: 'boolean', default: false, describe: 'exit 1 for a module that is not distilled' })
      .option('dedup', { type: 'boolean', default: false, describe: 'fold split types equal to kernel types into references to them' })),
    async (a) => {
      const files = expandInputs(a.modules, a.recursive);
      const opts = { kernel: a.kernel, strip: a.strip, strict: a.strict, dedup: a.dedup, json: a.json, output: a.output, outDir: a.outDir, sign: signOptions(a) };
      checkOutputOptions(files, opts);
      code = await runBatch('reconcile', opts, files, a.jobs ?? defaultJobs(), io, io === stdio && !a.json);
    })
    .command('map <modules..>', 'turn standalone module BTF (pahole -J without a base) into split BTF on vmlinux', (y) => outputOptions(y
      .positional('modules', { type: 'string', array: true, demandOption: true })
      .option('base', { alias: 'B', type: 'string', demandOption: true, describe: 'vmlinux (ELF, raw BTF or vmlinuz) to map onto' })),
    async (a) => {
      const files = expandInputs(a.modules, a.recursive);
      const opts = { base: a.base, json: a.json, output: a.output, outDir: a.outDir, sign: signOptions(a) };
      checkOutputOptions(files, opts);
      code = await runBatch('map', opts, files, a.jobs ?? defaultJobs(), io, io === stdio && !a.json);
    })
    .command('check <modules..>', 'can these distilled modules be reconciled onto these kernels? (writes nothing)', (y) => y
      .positional('modules', { type: 'string', array: true, demandOption: true })
      .option('kernel', { alias: 'k', type: 'string', demandOption: true, describe: 'target kernel BTF (repeat for several)' })
      .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'check the *.ko* modules under directories given' })
      .option('json', { type: 'boolean', default: false }),
    async (a) => {
      code = await cmdCheck({ files: expandInputs(a.modules, a.recursive), kernels: ([] as string[]).concat(a.kernel), json: a.json }, io);
    })
    .demandCommand(1, 'a command is required')
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(null)
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  skipHelpCache(parser);
  try {
    await parser.parseAsync();
  } catch (e) {
    io.err(`modbtf: ${describeError(e)}`);
    return e instanceof ModbtfError && e.code === 'E_USAGE' ? EXIT_USAGE : EXIT_FAIL;
  }
  if (usageError !== null) {
    io.err(`modbtf: ${usageError}`);
    io.err("Run 'modbtf --help' for usage.");
    return EXIT_USAGE;
  }
  return code ?? 0;
}

export async function main(argv: string[]): Promise<void> {
  const rc = await run(argv);
  process.exitCode = rc;
}
