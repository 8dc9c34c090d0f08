// Kubernetes Events (events.k8s.io/v1) for transitions and violations.
// Events are best effort: a failure to record one is logged, never retried,
// and never fails a reconcile. The same event for the same object is not
// recorded twice within the dedup window, so a resync does not repeat them.
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../../util/errors.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/log.js';
import { EVENT_RESOURCE, type KubeClient, type KubeObject } from '../client.js';
import type { EventSpec } from './status.js';

export const REPORTING_CONTROLLER = 'gatehouse.dev/operator';

export interface EventRecorderOptions {
  client: KubeClient;
  /** reportingInstance: this process's identity. */
  instance: string;
  clock: Clock;
  log: Logger;
  dedupWindowMs?: number;
  /** Most remembered events for dedup (oldest forgotten first). */
  dedupSize?: number;
}

function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #recent = new Map<string, number>();
  readonly #pending = new Set<Promise<void>>();
  #recorded = 0;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
  }

  get recorded(): number {
    return this.#recorded;
  }

  /** Records an event about `object`; returns at once. `action` says what Gatehouse did (Reconcile, Delete). */
  record(object: KubeObject, event: EventSpec, action: string): void {
    const now = this.#options.clock.now();
    const key = `${object.metadata.uid ?? `${object.kind}/${object.metadata.namespace}/${object.metadata.name}`}\u0000${event.reason}\u0000${event.note}`;
    const last = this.#recent.get(key);
    if (last !== undefined && now.getTime() - last < (this.#options.dedupWindowMs ?? 3_600_000)) return;
    this.#recent.delete(key);
    this.#recent.set(key, now.getTime());
    if (this.#recent.size > (this.#options.dedupSize ?? 20_000)) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
    const namespace = object.metadata.namespace ?? 'default';
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${object.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
      eventTime: microTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: truncate(this.#options.instance, 128),
      action,
      reason: truncate(event.reason, 128),
      note: truncate(event.note, 1024),
      type: event.type,
      regarding: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace,
        ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
        ...(object.metadata.resourceVersion ? { resourceVersion: object.metadata.resourceVersion } : {}),
      },
    };
    // Notes can name people (an invited email): info logs carry the object reference only.
    this.#options.log.info({ kind: object.kind, namespace, name: object.metadata.name, event: event.reason, type: event.type }, 'event');
    this.#options.log.debug({ kind: object.kind, namespace, name: object.metadata.name, event: event.reason, note: body.note }, 'event note');
    const sent = this.#options.client.create(EVENT_RESOURCE, namespace, body).then(
      () => {
        this.#recorded += 1;
      },
      (err: unknown) => {
        this.#options.log.warn({ kind: object.kind, namespace, name: object.metadata.name, event: event.reason, err: errorMessage(err) }, 'cannot record event');
      },
    );
    this.#pending.add(sent);
    void sent.finally(() => this.#pending.delete(sent));
  }

  /** Waits for events being sent. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
