// Kubernetes Events (events.k8s.io/v1) for transitions and violations.
// Events are best effort: a failure to record one is logged, never retried,
// and never fails a reconcile. The same event for the same object is not
// recorded twice within the dedup window, so a resync does not repeat them.
// Routine events marked `summarize` (an object's first status: Invited,
// Synced) are counted per workspace and reason and sent as one summary on the
// Workspace after a short delay: a cold start of 100,000 Members records
// about one event per workspace, not 100,000. Warnings and later transitions
// (Activated, Expired, Revoked) stay per object: a person acts on those.
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../../util/errors.js';
import type { Cancel, Clock } from '../../util/clock.js';
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
  /** How long summarized events gather before their summary is sent (default 10 s). */
  summaryDelayMs?: number;
  /** The Workspace object a summary is recorded on (for its uid); absent: by name only. */
  workspace?: (namespace: string, name: string) => KubeObject | undefined;
}

export const DEFAULT_SUMMARY_DELAY_MS = 10_000;
/** Object names a summary lists before "and N more". */
const SUMMARY_NAMES = 3;

interface Summary {
  namespace: string;
  workspace: string;
  kind: string;
  event: EventSpec;
  names: string[];
  count: number;
}

function workspaceRefOf(object: KubeObject): string | undefined {
  const name = (object.spec as { workspaceRef?: { name?: unknown } } | undefined)?.workspaceRef?.name;
  return typeof name === 'string' ? name : undefined;
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
  readonly #summaries = new Map<string, Summary>();
  #summaryTimer: Cancel | undefined;
  #recorded = 0;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
  }

  get recorded(): number {
    return this.#recorded;
  }

  /** Records an event about `object`; returns at once. `action` says what Gatehouse did (Reconcile, Delete). */
  record(object: KubeObject, event: EventSpec, action: string): void {
    const workspace = event.summarize === true && event.type === 'Normal' ? workspaceRefOf(object) : undefined;
    if (workspace !== undefined) {
      this.#summarize(object, workspace, event);
      return;
    }
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
    this.#send(object, event, action, now);
  }

  #send(object: KubeObject, event: EventSpec, action: string, now: Date): void {
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

  #summarize(object: KubeObject, workspace: string, event: EventSpec): void {
    const namespace = object.metadata.namespace ?? 'default';
    const kind = object.kind ?? 'object';
    const key = `${namespace}\u0000${workspace}\u0000${kind}\u0000${event.reason}`;
    let summary = this.#summaries.get(key);
    if (summary === undefined) {
      summary = { namespace, workspace, kind, event, names: [], count: 0 };
      this.#summaries.set(key, summary);
    }
    summary.count += 1;
    if (summary.names.length < SUMMARY_NAMES) summary.names.push(object.metadata.name);
    this.#summaryTimer ??= this.#options.clock.schedule(this.#options.summaryDelayMs ?? DEFAULT_SUMMARY_DELAY_MS, () => {
      this.#summaryTimer = undefined;
      this.#sendSummaries();
    });
  }

  /** One event per workspace and reason, on the Workspace: how many objects, a few by name, and one's note. */
  #sendSummaries(): void {
    const now = this.#options.clock.now();
    for (const summary of this.#summaries.values()) {
      const { namespace, workspace, kind, event, names, count } = summary;
      const more = count > names.length ? ` and ${count - names.length} more` : '';
      const note = `${count} ${kind}${count === 1 ? '' : 's'} ${event.reason}: ${names.join(', ')}${more}. ${event.note}`;
      const found = this.#options.workspace?.(namespace, workspace);
      const regarding: KubeObject = found ?? { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Workspace', metadata: { name: workspace, namespace } };
      this.#send(regarding, { type: event.type, reason: event.reason, note }, 'Reconcile', now);
    }
    this.#summaries.clear();
  }

  /** Sends gathered summaries now and waits for events being sent. */
  async flush(): Promise<void> {
    this.#summaryTimer?.();
    this.#summaryTimer = undefined;
    if (this.#summaries.size > 0) this.#sendSummaries();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
