import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One PostgreSQL server for the run; store tests make a database per file on it.
    globalSetup: ['test/support/global-setup.ts'],
    // One line per failing test with its reason keeps CI output readable.
    reporters: process.env.CI ? ['dot'] : ['default'],
  },
});
