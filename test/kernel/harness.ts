/**
 * Boots a real kernel under qemu with a throw-away busybox initramfs, insmods
 * modules in the order given, and reports per module: insmod's status and
 * output, new kernel log lines, and the bytes' digest of /sys/kernel/btf/<mod>.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseModinfo } from '../../src/btf/modinfo.js';
import { ElfFile } from '../../src/elf/index.js';
import { expect } from 'vitest';
import { decompress, detectCompression, openInput, splitSignature } from '../../src/module/index.js';

export interface ModuleVerdict {
  name: string;
  insmodRc: number | null;
  insmodOutput: string[];
  klog: string[];
  /** sha256 and size of /sys/kernel/btf/<name>; null when missing. */
  btf: { sha256: string; size: number } | null;
}

export interface BootResult {
  modules: Map<string, ModuleVerdict>;
  dmesgBtf: string[];
  serialLog: string;
  done: boolean;
  seconds: number;
}

const BUSYBOX = process.env.MODBTF_BUSYBOX ?? '/bin/busybox';

/** The kernel to boot, or why the kernel tests are skipped. */
export function kernelTestSetup(envVar = 'MODBTF_TEST_KERNEL'): { kernel: string; skip?: undefined } | { skip: string; kernel?: undefined } {
  const kernel = process.env[envVar];
  if (!kernel) return { skip: `${envVar} is not set (path of a vmlinuz to boot)` };
  if (!existsSync(kernel)) return { skip: `${envVar}=${kernel} does not exist` };
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return { skip: 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)' };
  if (!existsSync(BUSYBOX)) return { skip: `${BUSYBOX} not found (apt-get install busybox-static)` };
  if (spawnSync('cpio', ['--version']).status !== 0) return { skip: 'cpio not found (apt-get install cpio)' };
  return { kernel };
}

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "@@BOOTED $(uname -r)"
while read -r name file; do
  dmesg > /tmp/d0
  n0=$(wc -l < /tmp/d0)
  insmod "/m/$file" > /tmp/out 2>&1
  rc=$?
  while IFS= read -r l; do echo "@@OUT $name $l"; done < /tmp/out
  echo "@@RC $name $rc"
  dmesg | tail -n +$((n0 + 1)) | while IFS= read -r l; do echo "@@KLOG $name $l"; done
  if [ -e "/sys/kernel/btf/$name" ]; then
    echo "@@BTF $name $(wc -c < /sys/kernel/btf/$name) $(sha256sum /sys/kernel/btf/$name | cut -d' ' -f1)"
  else
    echo "@@BTF $name missing"
  fi
done < /modlist
dmesg | grep -E 'BTF|BPF:' | while IFS= read -r l; do echo "@@DMESG $l"; done
echo "@@DONE"
poweroff -f
`;

/** Module name as the kernel sees it: .modinfo name=, else the file name. */
function moduleName(elf: Uint8Array, file: string): string {
  try {
    const e = ElfFile.parse(splitSignature(elf).elf);
    const mi = e.section('.modinfo');
    const n = mi ? parseModinfo(e.data(mi)).get('name')?.[0] : undefined;
    if (n) return n;
  } catch {
    // fall back to the file name
  }
  return basename(file).replace(/\.ko(\..*)?$/, '').replace(/-/g, '_');
}

export async function bootWithModules(kernel: string, modules: string[], opts: { timeoutSec?: number } = {}): Promise<BootResult> {
  const work = mkdtempSync(join(tmpdir(), 'modbtf-boot-'));
  try {
    const root = join(work, 'root');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'm']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'bin/busybox'), readFileSync(BUSYBOX));
    chmodSync(join(root, 'bin/busybox'), 0o755);
    writeFileSync(join(root, 'init'), INIT);
    chmodSync(join(root, 'init'), 0o755);
    const list: string[] = [];
    for (const [i, path] of modules.entries()) {
      const raw = new Uint8Array(readFileSync(path));
      const elf = await decompress(raw, detectCompression(raw), path);
      const name = moduleName(elf, path);
      const file = `${i}-${name}.ko`;
      writeFileSync(join(root, 'm', file), elf);
      list.push(`${name} ${file}`);
    }
    writeFileSync(join(root, 'modlist'), `${list.join('\n')}\n`);
    const cpio = spawnSync('sh', ['-c', `cd "${root}" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 > ../initramfs.cpio`]);
    if (cpio.status !== 0) throw new Error(`cpio failed: ${cpio.stderr}`);

    // Software emulation by default: KVM inside nested virtualisation can fail
    // on instructions the guest kernel uses (seen here: BMI2, "emulation failure").
    let kvm = false;
    if (process.env.MODBTF_KVM === '1') {
      try {
        accessSync('/dev/kvm', constants.W_OK);
        kvm = true;
      } catch {
        kvm = false;
      }
    }
    const accel = kvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max'];
    const serial = join(work, 'serial.log');
    const args = [
      ...accel, '-m', '1G', '-smp', '1', '-nographic', '-no-reboot', '-nodefaults',
      '-kernel', kernel, '-initrd', join(work, 'initramfs.cpio'),
      '-append', 'console=ttyS0,115200 rdinit=/init panic=-1 quiet',
      '-serial', `file:${serial}`, '-monitor', 'none', '-display', 'none',
    ];
    const t0 = Date.now();
    const timeout = (opts.timeoutSec ?? 240) * 1000;
    await new Promise<void>((resolve) => {
      const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const timer = setTimeout(() => q.kill('SIGKILL'), timeout);
      q.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const log = existsSync(serial) ? readFileSync(serial, 'latin1').replace(/\r/g, '') : '';
    return { ...parse(log), serialLog: log, seconds: (Date.now() - t0) / 1000 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parse(log: string): Omit<BootResult, 'serialLog' | 'seconds'> {
  const modules = new Map<string, ModuleVerdict>();
  const get = (name: string): ModuleVerdict => {
    let v = modules.get(name);
    if (!v) modules.set(name, (v = { name, insmodRc: null, insmodOutput: [], klog: [], btf: null }));
    return v;
  };
  const dmesgBtf: string[] = [];
  let done = false;
  for (const line of log.split('\n')) {
    const at = line.indexOf('@@');
    if (at < 0) continue;
    const m = line.slice(at);
    const [tag, name, ...rest] = m.split(' ');
    const text = rest.join(' ');
    if (tag === '@@RC') get(name!).insmodRc = Number(text);
    else if (tag === '@@OUT') get(name!).insmodOutput.push(text);
    else if (tag === '@@KLOG') get(name!).klog.push(text);
    else if (tag === '@@BTF') {
      const [size, sha] = rest;
      get(name!).btf = size === 'missing' ? null : { size: Number(size), sha256: sha! };
    } else if (tag === '@@DMESG') dmesgBtf.push(m.slice('@@DMESG '.length));
    else if (tag === '@@DONE') done = true;
  }
  return { modules, dmesgBtf, done };
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** An Output that prints nothing, for CLI runs inside the kernel tests. */
export const quiet = { out: (): void => undefined, err: (): void => undefined };

/** The `.BTF` section of a module file, as its bytes. */
export async function btfSection(path: string): Promise<Buffer> {
  const elf = (await openInput(path)).elf!;
  return Buffer.from(elf.data(elf.section('.BTF')!));
}

/** insmod of `name` was tried and succeeded (the serial log and kernel lines say why not); its verdict. */
export function expectLoaded(boot: BootResult, name: string): ModuleVerdict {
  const v = boot.modules.get(name);
  expect(v, `${name} was not tried; serial log tail:\n${boot.serialLog.slice(-2000)}`).toBeDefined();
  expect(v!.insmodRc, `${name}: ${v!.insmodOutput.join(' | ')} ${v!.klog.join(' | ')}`).toBe(0);
  return v!;
}

/** The module `name` (.ko, .ko.xz or .ko.zst) under an unpacked kernel's `kdir/kernel`, or null. */
export function findModule(kdir: string, name: string): string | null {
  const walk = (d: string): string | null => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        const r = walk(p);
        if (r) return r;
      } else if (e === `${name}.ko.xz` || e === `${name}.ko.zst` || e === `${name}.ko`) {
        return p;
      }
    }
    return null;
  };
  return existsSync(join(kdir, 'kernel')) ? walk(join(kdir, 'kernel')) : null;
}
