// Where the end-to-end suite runs: the fake API server (always), or k3s in a
// container through testcontainers where a container engine exists. The suite
// talks to either through a KubeConfig; fault injection exists on the fake only.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { FakeApiServer } from '../../support/fake-apiserver/index.js';

export interface ClusterTarget {
  readonly name: string;
  kubeConfig(): KubeConfig;
  writeKubeconfig(file: string): void;
  /** The fake API server, for fault injection; undefined on a real cluster. */
  readonly fake?: FakeApiServer;
  /** Creates a namespace (the real API server requires it; the fake accepts it). */
  createNamespace(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetFactory {
  name: string;
  /** Whether fake.* fault injection exists (dropped watches, 410, injected errors). */
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

/** Is there a container engine? testcontainers says so at once when there is none. */
export async function detectContainerRuntime(): Promise<{ available: boolean; reason: string }> {
  if (process.env.GATEHOUSE_E2E_K3S === '0') return { available: false, reason: 'GATEHOUSE_E2E_K3S=0' };
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return { available: true, reason: '' };
  } catch (err) {
    return { available: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

const CRD_DIR = fileURLToPath(new URL('../../../crds/', import.meta.url));
export const K3S_IMAGE = process.env.GATEHOUSE_K3S_IMAGE ?? 'rancher/k3s:v1.31.2-k3s1';

export const k3sTarget: TargetFactory = {
  name: 'k3s',
  faults: false,
  async create() {
    const { K3sContainer } = await import('@testcontainers/k3s');
    const container = await new K3sContainer(K3S_IMAGE).start();
    const kc = new KubeConfig();
    kc.loadFromString(container.getKubeConfig());
    const api = KubernetesObjectApi.makeApiClient(kc);
    for (const file of readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(join(CRD_DIR, file), 'utf8'))) {
        const crd = doc.toJS() as KubernetesObject | null;
        if (crd) await api.create(crd);
      }
    }
    // Wait until the API server serves the new kinds.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await api.list('gatehouse.dev/v1alpha1', 'Member');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    return {
      name: 'k3s',
      kubeConfig: () => {
        const copy = new KubeConfig();
        copy.loadFromString(container.getKubeConfig());
        return copy;
      },
      writeKubeconfig: (file) => writeFileSync(file, container.getKubeConfig(), { mode: 0o600 }),
      createNamespace: (name) => createNamespace(kc, name),
      stop: async () => {
        await container.stop();
      },
    };
  },
};
