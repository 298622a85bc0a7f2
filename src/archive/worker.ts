/** Worker thread for min-core -r: parses the BPF objects once, then minimizes kernels on request. */
import { parentPort, workerData } from 'node:worker_threads';
import { minimizeKernel, readArchiveInputs, toAnswer, type ArchiveInput, type KernelBtfEntry } from './btfhub.js';

const objects = readArchiveInputs((workerData as { inputs: ArchiveInput[] }).inputs);
parentPort!.on('message', (m: { index: number; entry: KernelBtfEntry }) => {
  void minimizeKernel(m.entry, objects).then((r) => {
    const a = toAnswer(m.index, r);
    parentPort!.postMessage(a);
  });
});
