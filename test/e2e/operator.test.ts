// The operator end to end: the whole suite against a real kube-apiserver
// (envtest), and the injected faults against the fake API server.
import { describe } from 'vitest';
import { envtestSkipReason } from '../support/envtest.js';
import { operatorSuite } from './support/suite.js';
import { envtestTarget, fakeTarget } from './support/targets.js';

const skipReason = envtestSkipReason();

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? 'operator e2e against a real kube-apiserver (envtest)' : `operator e2e against a real kube-apiserver (skipped: ${skipReason})`,
  () => {
    operatorSuite(envtestTarget);
  },
);

describe('operator e2e against the fake API server (injected faults)', () => {
  operatorSuite(fakeTarget);
});
