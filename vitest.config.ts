import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that read processes the global setup started and that wait on a clock no test can move
 * (V8's memory-reducer watchdog, about 100 s after start-up): run last, when the wait is over.
 * vitest runs one file at a time on a two-core machine, so such a file run early would hold the
 * whole suite for the rest of the wait.
 */
const WAITING_FILES = [/src\/cli\/memory-reducer\.test\.ts$/];

class WaitingFilesLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const waits = (file: TestSpecification) => WAITING_FILES.some((pattern) => pattern.test(file.moduleId));
    return [...sorted.filter((file) => !waits(file)), ...sorted.filter(waits)];
  }
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One PostgreSQL server for the run (store tests make a database per file on it), and the
    // processes the memory-reducer test reads.
    globalSetup: ['test/support/global-setup.ts'],
    // One line per failing test with its reason keeps CI output readable.
    reporters: process.env.CI ? ['dot'] : ['default'],
    sequence: { sequencer: WaitingFilesLast },
  },
});
