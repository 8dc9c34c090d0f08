// The operator end to end: the same suite against the fake API server (always)
// and against k3s in a container (where a container engine exists).
import { describe } from 'vitest';
import { operatorSuite } from './support/suite.js';
import { detectContainerRuntime, fakeTarget, k3sTarget } from './support/targets.js';

const runtime = await detectContainerRuntime();

describe('operator e2e against the fake API server', () => {
  operatorSuite(fakeTarget);
});

describe.skipIf(!runtime.available)(
  runtime.available ? 'operator e2e against k3s' : `operator e2e against k3s (skipped: no container runtime: ${runtime.reason})`,
  () => {
    operatorSuite(k3sTarget);
  },
);
