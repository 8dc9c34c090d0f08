// gatehouse run's options as commander hands them over with its defaults, for
// tests that call runOperatorCommand in process: probes, metrics and logs off.
import type { RunOptions } from '../../src/cli/commands/run.js';

export function runOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    namespace: [],
    workers: '4',
    heapGrowth: '25',
    resyncPeriod: '600s',
    storePollInterval: '3s',
    leaderElect: true,
    leaseName: 'gatehouse-operator',
    leaseDuration: '15s',
    renewDeadline: '10s',
    retryPeriod: '2s',
    probeListen: '',
    metricsListen: '',
    logLevel: 'silent',
    webhook: false,
    ...overrides,
  };
}
