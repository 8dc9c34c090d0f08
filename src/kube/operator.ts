// The operator process: informers on every instance, workers on the leader,
// probes and metrics, and a graceful stop: reconciles in flight finish, the
// lease is released (another instance takes over at once), the watches stop,
// pending events are sent, the servers close and the engine closes its store.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Profile } from '../model/index.js';
import type { ObjectIndex } from '../rules/types.js';
import { systemClock, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { KubeClient } from './client.js';
import { Controller, DEFAULT_RESYNC_PERIOD_MS, DEFAULT_STORE_POLL_MS, DEFAULT_WORKERS } from './controller/controller.js';
import type { AccessEngine } from './controller/engine-port.js';
import { DEFAULT_LEASE_NAME, LeaderElector, type LeaderElectionTiming } from './leader-election.js';
import { OperatorMetrics } from './metrics.js';
import { metricsHandler, probeHandler, startServer, type ListenAddress, type ReadinessCheck, type RunningServer } from './servers.js';
import type { BackoffOptions, RateLimitOptions } from './workqueue.js';

export interface LeaderElectionSettings {
  namespace: string;
  name?: string;
  identity?: string;
  timing?: Partial<LeaderElectionTiming>;
}

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  engine: AccessEngine;
  profile: Profile;
  clock?: Clock;
  namespaces?: readonly string[];
  workers?: number;
  maxBatch?: number;
  resyncPeriodMs?: number;
  storePollMs?: number;
  backoff?: BackoffOptions;
  rateLimit?: RateLimitOptions;
  /** false: this instance reconciles without a lease (one replica, or tests). */
  leaderElection: LeaderElectionSettings | false;
  probeListen?: ListenAddress;
  metricsListen?: ListenAddress;
  /** Clock for watch reconnect backoff; wall time by default. */
  informerClock?: Clock;
  /** How long to wait for the caches on start before readiness reports them missing (they keep trying). */
  log?: Logger;
  identity?: string;
  dependencyRetryMs?: number;
  /** Extra readiness checks (the webhook's, when it is served by this process). */
  readinessChecks?: ReadinessCheck[];
  /**
   * Whether an unreachable store makes /readyz fail (default true). Off when
   * this process serves the admission webhook: a store outage must not take
   * the webhook's endpoints away and refuse every change, revocations included.
   */
  storeGatesReadiness?: boolean;
}

/** POD_NAME (from the downward API) or the host name, plus a random suffix: unique per process. */
export function defaultIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
}

export class Operator {
  readonly controller: Controller;
  readonly metrics: OperatorMetrics;
  readonly identity: string;
  readonly #options: OperatorOptions;
  readonly #log: Logger;
  readonly #elector: LeaderElector | undefined;
  #probes: RunningServer | undefined;
  #metricsServer: RunningServer | undefined;
  #leading: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(options: OperatorOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger();
    this.identity = options.identity ?? defaultIdentity();
    this.metrics = new OperatorMetrics({ defaultMetrics: options.metricsListen !== undefined });
    const client = new KubeClient(options.kubeConfig, {
      onWrite: (verb, resource, subresource) => this.metrics.apiWrites.inc({ verb, resource: subresource ? `${resource.plural}/${subresource}` : resource.plural }),
    });
    const clock = options.clock ?? systemClock;
    this.controller = new Controller({
      client,
      engine: options.engine,
      profile: options.profile,
      clock,
      ...(options.namespaces && options.namespaces.length > 0 ? { namespaces: options.namespaces } : {}),
      workers: options.workers ?? DEFAULT_WORKERS,
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
      resyncPeriodMs: options.resyncPeriodMs ?? DEFAULT_RESYNC_PERIOD_MS,
      storePollMs: options.storePollMs ?? DEFAULT_STORE_POLL_MS,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
      ...(options.informerClock ? { informerClock: options.informerClock } : {}),
      ...(options.dependencyRetryMs !== undefined ? { dependencyRetryMs: options.dependencyRetryMs } : {}),
      identity: this.identity,
      log: this.#log,
      metrics: this.metrics,
    });
    if (options.leaderElection !== false) {
      const settings = options.leaderElection;
      this.#elector = new LeaderElector({
        client,
        namespace: settings.namespace,
        name: settings.name ?? DEFAULT_LEASE_NAME,
        identity: settings.identity ?? this.identity,
        clock,
        ...(settings.timing ? { timing: settings.timing } : {}),
        log: this.#log,
        onStartedLeading: () => {
          // Every store write of this term is fenced with it (a successor's term wins).
          options.engine.setLeadership?.(this.#elector?.token);
          this.#lead();
        },
        onStoppedLeading: () => {
          // Stop at once: keys not started are dropped; the next leader lists everything anyway.
          void this.controller.stopReconciling({ drop: true });
        },
        onNewLeader: (leader) => this.#log.info({ leader }, 'leader election: current leader'),
      });
    }
  }

  /** Starts the operator; resolves once its servers listen (the caches sync in the background). */
  static async start(options: OperatorOptions): Promise<Operator> {
    const operator = new Operator(options);
    await operator.#start();
    return operator;
  }

  async #start(): Promise<void> {
    const o = this.#options;
    this.controller.start();
    const checks: ReadinessCheck[] = [
      {
        name: 'caches',
        check: () => {
          if (!this.controller.cache.hasSynced) throw new Error('the informer caches have not synced yet');
        },
      },
      { name: 'store', check: () => o.engine.ping(), informational: o.storeGatesReadiness === false },
      ...(o.readinessChecks ?? []),
    ];
    if (o.probeListen) this.#probes = await startServer(o.probeListen, probeHandler(checks));
    if (o.metricsListen) this.#metricsServer = await startServer(o.metricsListen, metricsHandler(() => this.metrics.text(), this.metrics.registry.contentType));
    this.#log.info(
      {
        identity: this.identity,
        namespaces: o.namespaces && o.namespaces.length > 0 ? o.namespaces : 'all',
        leaderElection: o.leaderElection === false ? 'off' : `${o.leaderElection.namespace}/${o.leaderElection.name ?? DEFAULT_LEASE_NAME}`,
        probes: this.#probes?.url,
        metrics: this.#metricsServer?.url,
      },
      'operator started',
    );
    if (this.#elector !== undefined) this.#elector.start();
    else this.#lead();
  }

  #lead(): void {
    this.#leading = this.controller
      .waitForSync(Number.MAX_SAFE_INTEGER)
      .then(() => {
        if (this.#stopping !== undefined) return;
        if (this.#elector !== undefined && !this.#elector.isLeader) return;
        this.controller.startReconciling();
      })
      .catch((err: unknown) => this.#log.error({ err: errorMessage(err) }, 'caches did not sync'));
  }

  /** The informer cache as the rules' ObjectIndex (for the admission webhook). */
  get index(): ObjectIndex {
    return this.controller.cache;
  }

  get isLeader(): boolean {
    return this.#elector === undefined ? this.controller.reconciling : this.#elector.isLeader;
  }

  get probeUrl(): string | undefined {
    return this.#probes?.url;
  }

  get metricsUrl(): string | undefined {
    return this.#metricsServer?.url;
  }

  /** Graceful stop; safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#log.info({}, 'operator stopping');
    // In-flight reconciles finish; nothing new starts. Then the lease goes, so a standby takes over at once.
    await this.controller.stopReconciling({ drop: true });
    await this.#elector?.stop({ release: true });
    await this.#leading;
    await this.controller.stop();
    await this.#probes?.close();
    await this.#metricsServer?.close();
    await this.#options.engine.close();
    this.#log.info({}, 'operator stopped');
  }
}

export { DEFAULT_RESYNC_PERIOD_MS, DEFAULT_STORE_POLL_MS, DEFAULT_WORKERS };
