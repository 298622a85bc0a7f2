/** Worker thread for batch runs: takes { index, file } messages, answers with the task's result. */
import { parentPort, workerData } from 'node:worker_threads';
import { setDefaultMaxInputSize } from '../module/limits.js';
import { runTask, type TaskKind, type TaskOptions } from './batch.js';

const { kind, opts, maxInputSize } = workerData as { kind: TaskKind; opts: TaskOptions; maxInputSize: number };
setDefaultMaxInputSize(maxInputSize);
parentPort!.on('message', (m: { index: number; file: string }) => {
  void runTask(kind, opts, m.file).then((result) => parentPort!.postMessage({ index: m.index, result }));
});
