// What each kind of write costs the API server: the operator's cold start is
// bound by the CPU that the API server and etcd spend on its writes, so this
// measures that CPU per write, on a real kube-apiserver (envtest), for:
//   - a create of a Member (what the bench's baseline creators do);
//   - the finalizer as a merge patch (the operator's first write without the webhook);
//   - the first status of a Member as a merge patch of the status subresource, with the
//     status the operator writes (controller/status.ts: five conditions), then the same
//     status again (a no-op the API server still validates), and statuses with fewer
//     conditions, to show what each condition costs.
// Each phase writes N Members (GATEHOUSE_BENCH_API_WRITES, default 2,000) from 64
// requests in flight (4 for the creates, as the baseline creators), on fresh objects
// where it says "first". CPU is the API server's and etcd's user + system time over
// the phase, from /proc. Needs KUBEBUILDER_ASSETS (or .cache/envtest); says skipped without it.
import { performance } from 'node:perf_hooks';
import { KubeClient, gatehouseResource } from '../src/kube/client.js';
import { desiredStatus, type Status } from '../src/kube/controller/status.js';
import { FIELD_MANAGER, STORE_FINALIZER, type GatehouseObject } from '../src/model/index.js';
import { Envtest, envtestSkipReason } from '../test/support/envtest.js';
import { inParallel } from './parallel.js';
import { procCpuSeconds } from './processes.js';
import { report } from './report.js';

const N = Number(process.env.GATEHOUSE_BENCH_API_WRITES ?? 2000);
const MEMBER = gatehouseResource('Member');

function member(namespace: string, i: number): GatehouseObject {
  return {
    apiVersion: 'gatehouse.dev/v1alpha1',
    kind: 'Member',
    metadata: { name: `m-${i}`, namespace },
    spec: { workspaceRef: { name: 'acme' }, email: `m${i}@acme.example`, displayName: `Member ${i}`, role: 'viewer' },
  } as GatehouseObject;
}

/** The status the operator writes for a newly invited Member. */
function invitedStatus(): Status {
  const at = new Date();
  const expires = new Date(at.getTime() + 7 * 86_400_000).toISOString();
  return desiredStatus({
    object: { ...member('bench', 0), metadata: { name: 'm-0', namespace: 'bench', generation: 1 } } as GatehouseObject,
    state: {
      ref: { kind: 'Member', namespace: 'bench', name: 'm-0' },
      phase: 'Invited',
      reason: 'Invited',
      message: `The member is in the identity store; an invitation was sent and is valid until ${expires}.`,
      ready: true,
      inStore: true,
      violations: [],
      role: 'viewer',
      invitation: { state: 'Waiting', sentAt: at.toISOString(), expiresAt: expires, sentCount: 1 },
    },
    violations: [],
    at,
  });
}

const skip = envtestSkipReason();
if (skip !== undefined) {
  report([['skipped', skip]]);
} else {
  const env = await Envtest.start();
  try {
    const client = new KubeClient(env.kubeConfig());
    const serverCpu = () => Object.values(env.pids).reduce((sum, pid) => sum + (pid === undefined ? 0 : procCpuSeconds(pid)), 0);
    let namespaces = 0;
    const rows: Array<[string, string | number]> = [['writes per phase', N]];

    /** Runs op for every index with `inFlight` requests at a time; reports the API server's CPU per write. */
    const phase = async (name: string, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> => {
      const cpuFrom = serverCpu();
      const started = performance.now();
      await inParallel(N, inFlight, op);
      const seconds = (performance.now() - started) / 1000;
      const msPerWrite = ((serverCpu() - cpuFrom) / N) * 1000;
      rows.push([`${name}: writes/s, API server + etcd CPU ms per write`, `${(N / seconds).toFixed(0)}, ${msPerWrite.toFixed(2)}`]);
      return msPerWrite;
    };
    /** A namespace of N new Members, created before the phase that needs them. */
    const fresh = async (): Promise<string> => {
      const namespace = `bench-${namespaces++}`;
      await env.createNamespace(namespace);
      await inParallel(N, 16, (i) => client.create(MEMBER, namespace, member(namespace, i)));
      return namespace;
    };
    const writeStatus = (namespace: string, status: Status) => (i: number) =>
      client.patch(MEMBER, namespace, `m-${i}`, { status }, { type: 'merge', subresource: 'status', fieldManager: FIELD_MANAGER });

    const status = invitedStatus();
    const conditions = status.conditions ?? [];
    let namespace = `bench-${namespaces++}`;
    await env.createNamespace(namespace);
    const create = await phase('create, 4 in flight', 4, (i) => client.create(MEMBER, namespace, member(namespace, i)));
    await phase('finalizer merge patch, first', 64, (i) =>
      client.patch(MEMBER, namespace, `m-${i}`, { metadata: { finalizers: [STORE_FINALIZER] } }, { type: 'merge', fieldManager: FIELD_MANAGER }),
    );
    const first = await phase(`status merge patch, first (${conditions.length} conditions, as the operator writes it)`, 64, writeStatus(namespace, status));
    await phase(`the same status again (no change)`, 64, writeStatus(namespace, status));
    for (const kept of [1, 0]) {
      namespace = await fresh();
      await phase(`status merge patch, first, ${kept} condition${kept === 1 ? '' : 's'}`, 64, writeStatus(namespace, { ...status, conditions: conditions.slice(0, kept) }));
    }
    rows.push(['operator status write / create, API server CPU', (first / create).toFixed(2)]);
    report(rows);
  } finally {
    await env.stop();
  }
}
