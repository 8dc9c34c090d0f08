import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that spend their time waiting on a clock no test can move (V8's memory-reducer watchdog,
 * about 100 s): run first, so the wait overlaps the rest of the suite. Without results from an
 * earlier run (a fresh clone), vitest orders files by size, and these small ones came last and
 * added their whole wait to the end.
 */
const WAITING_FILES = [/src\/cli\/memory-reducer\.test\.ts$/];

class WaitingFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const waits = (file: TestSpecification) => WAITING_FILES.some((pattern) => pattern.test(file.moduleId));
    return [...sorted.filter(waits), ...sorted.filter((file) => !waits(file))];
  }
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One PostgreSQL server for the run; store tests make a database per file on it.
    globalSetup: ['test/support/global-setup.ts'],
    // One line per failing test with its reason keeps CI output readable.
    reporters: process.env.CI ? ['dot'] : ['default'],
    sequence: { sequencer: WaitingFilesFirst },
  },
});
