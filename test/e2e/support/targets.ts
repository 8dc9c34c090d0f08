// Where the end-to-end suite runs: a real kube-apiserver (envtest) for
// everything the API server decides, and the fake API server for the faults a
// real one will not produce on demand (injected 409s, dropped watches). The
// suite talks to either through a KubeConfig.
import { type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { Envtest } from '../../support/envtest.js';
import { FakeApiServer } from '../../support/fake-apiserver/index.js';

export interface ClusterTarget {
  readonly name: string;
  kubeConfig(): KubeConfig;
  writeKubeconfig(file: string): void;
  /** The fake API server, for fault injection; undefined on a real cluster. */
  readonly fake?: FakeApiServer;
  /** The real API server, for tokens, RBAC and kubectl; undefined on the fake. */
  readonly envtest?: Envtest;
  /** Creates a namespace (the real API server requires it; the fake accepts it). */
  createNamespace(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetFactory {
  name: string;
  /** Whether fake.* fault injection exists (dropped watches, injected errors): then only the fault tests run on it. */
  faults: boolean;
  create(): Promise<ClusterTarget>;
}

async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  try {
    await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

export const fakeTarget: TargetFactory = {
  name: 'the fake API server',
  faults: true,
  async create() {
    const fake = await FakeApiServer.start();
    return {
      name: 'fake',
      fake,
      kubeConfig: () => fake.kubeConfig(),
      writeKubeconfig: (file) => fake.writeKubeconfig(file),
      createNamespace: (name) => createNamespace(fake.kubeConfig(), name),
      stop: () => fake.stop(),
    };
  },
};

/** A real kube-apiserver and etcd (envtest) with the generated CRDs installed; one per test file. */
export const envtestTarget: TargetFactory = {
  name: 'a real kube-apiserver (envtest)',
  faults: false,
  async create() {
    const env = await Envtest.start();
    return {
      name: 'envtest',
      envtest: env,
      kubeConfig: () => env.kubeConfig(),
      writeKubeconfig: (file) => env.writeKubeconfig(file),
      createNamespace: (name) => env.createNamespace(name),
      stop: () => env.stop(),
    };
  },
};
