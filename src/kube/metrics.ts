// Prometheus metrics of the operator, in a registry of its own (several
// operators can live in one process in tests).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ReconcileResultLabel = 'done' | 'requeue' | 'error' | 'terminal';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileDuration: Histogram<'kind'>;
  readonly queueDepth: Gauge;
  readonly storeDuration: Histogram<'operation'>;
  readonly expiryLateness: Histogram;
  readonly leader: Gauge;
  readonly apiWrites: Counter<'verb' | 'resource'>;
  #depth: () => number = () => 0;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.reconcileTotal = new Counter({
      name: 'gatehouse_reconcile_total',
      help: 'Reconciles by kind and result (done, requeue, error, terminal).',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'gatehouse_reconcile_duration_seconds',
      help: 'Time one reconcile takes, store and API calls included.',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const depth = () => this.#depth();
    this.queueDepth = new Gauge({
      name: 'gatehouse_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      registers,
      collect() {
        this.set(depth());
      },
    });
    this.storeDuration = new Histogram({
      name: 'gatehouse_store_operation_duration_seconds',
      help: 'Time the identity store takes per operation (sync, read).',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.expiryLateness = new Histogram({
      name: 'gatehouse_expiry_lateness_seconds',
      help: 'How long after an end time (temporary access, support grant, invitation) the store was updated.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.leader = new Gauge({
      name: 'gatehouse_leader',
      help: '1 while this instance holds the leader lease and reconciles, else 0.',
      registers,
    });
    this.leader.set(0);
    this.apiWrites = new Counter({
      name: 'gatehouse_api_writes_total',
      help: 'Write requests sent to the Kubernetes API server, by verb and resource (status writes as resource/status).',
      labelNames: ['verb', 'resource'],
      registers,
    });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  /** Where the queue depth gauge reads from. */
  setQueueDepthSource(depth: () => number): void {
    this.#depth = depth;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
