// A worker thread that reads and parses source files (the fast way) alongside the
// main thread when a folder has many files: see parseFilesWithWorker in load.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { claimBatch, fastParse, readSourceFile, withoutByteOrderMark, type ParsedByWorker, type ParseWorkerJob } from './load.js';

const job = workerData as ParseWorkerJob;
const counter = new Int32Array(job.claimed);
for (let start = claimBatch(counter, job.batch); start < job.files.length; start = claimBatch(counter, job.batch)) {
  const batch = job.files.slice(start, start + job.batch);
  const texts = await Promise.all(batch.map((file) => readSourceFile(file, job.maxBytes)));
  const done: ParsedByWorker[] = texts.map((read, i) => {
    if (typeof read !== 'string') return { index: start + i, problem: read };
    const text = withoutByteOrderMark(read);
    const fast = fastParse(text);
    return fast !== undefined ? { index: start + i, text, fast } : { index: start + i, text };
  });
  parentPort?.postMessage(done);
}
parentPort?.postMessage('done');
