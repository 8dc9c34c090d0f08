// The end-to-end harness: a cluster target, a real SQLite identity store in a
// temporary folder, the real engine, and operators started in this process
// (on a manual clock) or as `gatehouse run` processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { KubeClient, gatehouseResource, type KubeObject } from '../../../src/kube/client.js';
import { StoreEngine } from '../../../src/kube/controller/engine-adapter.js';
import type { EngineSyncResult, SyncScope } from '../../../src/kube/controller/engine-port.js';
import { EngineError } from '../../../src/kube/controller/engine-port.js';
import { Operator, type OperatorOptions } from '../../../src/kube/operator.js';
import { DelegatingEngine } from '../../../src/kube/testing/delegating-engine.js';
import { getDefaultProfile, type GatehouseObject, type Kind } from '../../../src/model/index.js';
import type { ObjectIndex } from '../../../src/rules/types.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { createLogger, silentLogger } from '../../../src/util/log.js';
import type { ClusterTarget } from './targets.js';

export const API_VERSION = 'gatehouse.dev/v1alpha1';
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export { eventually } from '../../support/eventually.js';

/** An engine that can be told to fail, around the real one. */
export class FaultyEngine extends DelegatingEngine {
  #failDeletes = 0;

  /** The next `count` syncs that delete an object throw, as a store that went away would. */
  failDeletes(count: number): void {
    this.#failDeletes = count;
  }

  override sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult> {
    if (this.#failDeletes > 0 && scope.type === 'objects') {
      const present = new Set(desired.map((o) => `${o.kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`));
      if (scope.refs.some((r) => !present.has(`${r.kind}/${r.namespace}/${r.name}`))) {
        this.#failDeletes -= 1;
        return Promise.reject(new EngineError('injected: the identity store is unreachable'));
      }
    }
    return super.sync(desired, scope, at, index);
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real kubectl against `kubeconfig`; the caller checks the result.
 * Asynchronous, so an operator in this process keeps working meanwhile.
 */
export function runKubectl(kubectl: string, kubeconfig: string, args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

export interface OperatorProcess {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export class E2E {
  readonly clock: ManualClock;
  readonly dir: string;
  readonly storePath: string;
  readonly client: KubeClient;
  readonly operators: Operator[] = [];
  readonly processes: OperatorProcess[] = [];
  readonly profile = getDefaultProfile();
  store!: Store;

  private constructor(readonly target: ClusterTarget) {
    // Whole seconds: the API server's timestamps have no fraction.
    this.clock = new ManualClock(new Date(Math.ceil(Date.now() / 1000) * 1000));
    this.dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
    this.storePath = join(this.dir, 'identity.db');
    this.client = new KubeClient(target.kubeConfig());
  }

  static async start(target: ClusterTarget, namespaces: string[] = ['team-a']): Promise<E2E> {
    const e2e = new E2E(target);
    e2e.store = await openStore(`sqlite:${e2e.storePath}`, { at: e2e.clock.now() });
    for (const ns of [...namespaces, 'gatehouse-system']) await target.createNamespace(ns);
    return e2e;
  }

  /** An operator in this process on the manual clock, with the real engine over its own connection to the store. */
  async startOperator(options: Partial<OperatorOptions> = {}): Promise<{ operator: Operator; engine: FaultyEngine }> {
    const store = await openStore(`sqlite:${this.storePath}`);
    const engine = new FaultyEngine(new StoreEngine(store, this.profile));
    const operator = await Operator.start({
      kubeConfig: this.target.kubeConfig(),
      engine,
      profile: this.profile,
      clock: this.clock,
      leaderElection: false,
      workers: 2,
      storePollMs: 2000,
      resyncPeriodMs: 86_400_000,
      log: process.env.GATEHOUSE_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger(),
      ...options,
    });
    this.operators.push(operator);
    await operator.controller.waitForSync(10_000);
    return { operator, engine };
  }

  /** `gatehouse run` as a real process. */
  startProcess(args: string[]): OperatorProcess {
    const kubeconfig = join(this.dir, 'kubeconfig.yaml');
    this.target.writeKubeconfig(kubeconfig);
    const child = spawn(
      process.execPath,
      [
        '--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'run',
        // The webhook is off unless a test asks for it.
        ...(args.some((a) => a.startsWith('--webhook')) ? [] : ['--no-webhook']),
        '--kubeconfig', kubeconfig, '--store', `sqlite:${this.storePath}`, ...args,
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAMESPACE: 'gatehouse-system' } },
    );
    const lines: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
      for (const wake of waiters.splice(0)) wake();
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const proc: OperatorProcess = {
      child,
      lines,
      exited,
      async waitForLog(msg, timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const found = lines.find((l) => l.msg === msg);
          if (found) return found;
          if (Date.now() > deadline || child.exitCode !== null) {
            throw new Error(`no "${msg}" log line from gatehouse run within ${timeoutMs} ms (exit ${child.exitCode}); stderr: ${stderr.slice(-2000)}`);
          }
          await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), sleep(100)]);
        }
      },
    };
    this.processes.push(proc);
    return proc;
  }

  async create(obj: { kind: string; metadata: { namespace?: string } }): Promise<KubeObject> {
    return this.client.create(gatehouseResource(obj.kind as Kind), obj.metadata.namespace ?? 'team-a', obj);
  }

  async patch(kind: Kind, name: string, body: unknown, namespace = 'team-a'): Promise<KubeObject> {
    return this.client.patch(gatehouseResource(kind), namespace, name, body, { type: 'merge' });
  }

  async delete(kind: Kind, name: string, namespace = 'team-a'): Promise<void> {
    await this.client.delete(gatehouseResource(kind), namespace, name);
  }

  async get(kind: Kind, name: string, namespace = 'team-a'): Promise<(KubeObject & { status?: E2EStatus }) | undefined> {
    try {
      return await this.client.get(gatehouseResource(kind), namespace, name);
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  async status(kind: Kind, name: string, namespace = 'team-a'): Promise<E2EStatus> {
    return (await this.get(kind, name, namespace))?.status ?? {};
  }

  async condition(kind: Kind, name: string, type: string, namespace = 'team-a'): Promise<E2ECondition | undefined> {
    return (await this.status(kind, name, namespace)).conditions?.find((c) => c.type === type);
  }

  /** Waits until the in-process operators have nothing to do and the API saw no request for a while. */
  async settle(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let stable = 0;
    let last = -1;
    // The fake counts requests; on a real API server, quiet is judged over a longer window.
    const needed = this.target.fake ? 5 : 12;
    while (stable < needed) {
      if (Date.now() > deadline) throw new Error('the operator did not settle');
      await sleep(15);
      const count = this.target.fake ? this.target.fake.requests.length : 0;
      const busy = this.operators.some((o) => o.controller.busy);
      stable = !busy && count === last ? stable + 1 : 0;
      last = count;
    }
  }

  memberRows() {
    return this.store.db.selectFrom('members').selectAll().orderBy('email_normalized').execute();
  }

  async stop(): Promise<void> {
    for (const p of this.processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => p.exited));
    for (const operator of this.operators) await operator.stop();
    await this.store?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface E2ECondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface E2EStatus {
  observedGeneration?: number;
  phase?: string;
  conditions?: E2ECondition[];
  [field: string]: unknown;
}

export function workspace(name = 'acme', spec: Record<string, unknown> = {}, namespace = 'team-a') {
  return { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name, namespace }, spec: { workspaceId: `${namespace}-${name}`, displayName: `Workspace ${name}`, ...spec } };
}

export function member(name: string, spec: Record<string, unknown> = {}, namespace = 'team-a') {
  return {
    apiVersion: API_VERSION,
    kind: 'Member',
    metadata: { name, namespace },
    spec: { workspaceRef: { name: 'acme' }, email: `${name}@example.com`, displayName: `Person ${name}`, role: 'viewer', ...spec },
  };
}

export function role(name: string, permissions: string[], spec: Record<string, unknown> = {}, namespace = 'team-a') {
  return {
    apiVersion: API_VERSION,
    kind: 'Role',
    metadata: { name, namespace },
    spec: { workspaceRef: { name: 'acme' }, displayName: `Role ${name}`, permissions, ...spec },
  };
}

export function supportGrant(name: string, spec: Record<string, unknown> = {}, namespace = 'team-a') {
  return {
    apiVersion: API_VERSION,
    kind: 'SupportGrant',
    metadata: { name, namespace },
    spec: { workspaceRef: { name: 'acme' }, grantee: { type: 'SupportTeam' }, scope: { type: 'Workspace' }, duration: '1h', reason: 'Ticket 42: export fails', ...spec },
  };
}
