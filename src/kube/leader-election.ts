// Leader election through a coordination.k8s.io/v1 Lease, as client-go does it:
// - a candidate takes the lease when it is free (no holder) or expired: its
//   holder has not renewed it for leaseDuration, timed by when THIS process saw
//   the record change (so clock skew between nodes does not matter);
// - the leader renews every retryPeriod; if it cannot renew for renewDeadline
//   it stops leading at once, on a timer of its own: a renewal that hangs does
//   not hold the step-down back (every API call also has a timeout);
// - the term it acquired (the Lease's uid and leaseTransitions) fences its
//   store writes (src/store/fence.ts), so a leader deposed without noticing
//   cannot write after its successor;
// - writes use the lease's resourceVersion, so two candidates never both win;
// - on graceful shutdown the leader releases the lease (no holder), and the
//   next candidate takes it on its next try instead of waiting out the lease.
// All timing is on the injected Clock.
import { errorMessage } from '../util/errors.js';
import type { Cancel, Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { LeadershipToken } from '../store/fence.js';
import { isConflict, isNotFound, LEASE_RESOURCE, type KubeClient, type KubeObject } from './client.js';

export interface LeaderElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION_TIMING: LeaderElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export const DEFAULT_LEASE_NAME = 'gatehouse-operator';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name?: string;
  /** Unique per process: the pod name plus a random suffix. */
  identity: string;
  clock: Clock;
  timing?: Partial<LeaderElectionTiming>;
  log?: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export class LeaderElectionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LeaderElectionError';
  }
}

/** Lease times are MicroTime: RFC 3339 with microseconds. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly name: string;
  readonly #options: LeaderElectionOptions;
  readonly #timing: LeaderElectionTiming;
  readonly #log: Logger;
  #leader = false;
  /** The Lease names this process (it may not lead yet: stopped right after acquiring). */
  #holding = false;
  #lastRenewAt = 0;
  #observedRecord = '';
  #observedAt = 0;
  #observedHolder = '';
  #cancelTick: Cancel | undefined;
  #cancelDeadline: Cancel | undefined;
  #attempt: Promise<void> | undefined;
  #token: LeadershipToken | undefined;
  #stopped = true;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.name = options.name ?? DEFAULT_LEASE_NAME;
    this.#timing = { ...DEFAULT_LEADER_ELECTION_TIMING, ...options.timing };
    if (this.#timing.renewDeadlineMs >= this.#timing.leaseDurationMs) {
      throw new LeaderElectionError('the renew deadline must be shorter than the lease duration');
    }
    if (this.#timing.retryPeriodMs >= this.#timing.renewDeadlineMs) {
      throw new LeaderElectionError('the retry period must be shorter than the renew deadline');
    }
    this.#log = options.log ?? silentLogger();
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  get identity(): string {
    return this.#options.identity;
  }

  /** The term this replica holds (set when it acquires the Lease), for fencing its store writes. */
  get token(): LeadershipToken | undefined {
    return this.#token;
  }

  /** Starts trying at once, then every retry period. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops trying; a leader stops leading and, with `release`, frees the lease for the next candidate. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    this.#cancelTick?.();
    this.#cancelTick = undefined;
    this.#cancelDeadline?.();
    this.#cancelDeadline = undefined;
    await this.#attempt;
    const holding = this.#holding || this.#leader;
    this.#setLeader(false);
    if (options.release && holding) await this.#release();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#attempt = this.#tryOnce().finally(() => {
      this.#attempt = undefined;
      if (!this.#stopped) this.#cancelTick = this.#options.clock.schedule(this.#timing.retryPeriodMs, () => this.#tick());
    });
  }

  async #tryOnce(): Promise<void> {
    const now = this.#options.clock.now().getTime();
    let acquired = false;
    try {
      acquired = await this.#tryAcquireOrRenew(now);
    } catch (err) {
      this.#log.warn({ lease: `${this.#options.namespace}/${this.name}`, err: errorMessage(err) }, 'leader election: cannot reach the lease');
    }
    if (acquired) this.#holding = true;
    if (this.#stopped) return;
    if (acquired) {
      this.#lastRenewAt = now;
      // A renewal that came back after the deadline had passed (the call hung) does not make this replica lead again at once.
      if (this.#options.clock.now().getTime() - now >= this.#timing.renewDeadlineMs) return;
      this.#armDeadline(now);
      if (!this.#leader) this.#setLeader(true);
      return;
    }
    if (this.#leader) {
      const lostToOther = this.#observedHolder !== '' && this.#observedHolder !== this.#options.identity;
      if (lostToOther || now - this.#lastRenewAt >= this.#timing.renewDeadlineMs) {
        this.#holding = false;
        this.#setLeader(false);
      }
    }
  }

  /**
   * Steps down renewDeadline after the last successful renewal unless another
   * renewal moves it: a timer of its own, independent of calls in flight.
   */
  #armDeadline(renewedAt: number): void {
    this.#cancelDeadline?.();
    const due = renewedAt + this.#timing.renewDeadlineMs - this.#options.clock.now().getTime();
    this.#cancelDeadline = this.#options.clock.schedule(Math.max(0, due), () => {
      this.#cancelDeadline = undefined;
      if (this.#leader && this.#options.clock.now().getTime() - this.#lastRenewAt >= this.#timing.renewDeadlineMs) {
        this.#log.warn({ lease: `${this.#options.namespace}/${this.name}` }, 'leader election: could not renew within the renew deadline');
        this.#holding = false;
        this.#setLeader(false);
      }
    });
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    const lease = `${this.#options.namespace}/${this.name}`;
    if (leader) {
      this.#log.info({ lease, identity: this.#options.identity }, 'leader election: became the leader');
      this.#options.onStartedLeading();
    } else {
      this.#log.warn({ lease, identity: this.#options.identity }, 'leader election: stopped leading');
      this.#options.onStoppedLeading();
    }
  }

  async #tryAcquireOrRenew(now: number): Promise<boolean> {
    const { client, namespace, identity } = this.#options;
    const durationSeconds = Math.ceil(this.#timing.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await client.get<Lease>(LEASE_RESOURCE, namespace, this.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        const created = await client.create<Lease>(LEASE_RESOURCE, namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(new Date(now)),
            renewTime: microTime(new Date(now)),
            leaseTransitions: 0,
          },
        });
        this.#observe({ holderIdentity: identity }, now);
        this.#token = this.#tokenOf(created);
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
    }
    const record = lease.spec ?? {};
    this.#observe(record, now);
    const holder = record.holderIdentity ?? '';
    const leaseMs = (record.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== identity && this.#observedAt + leaseMs > now) return false;
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: holder === identity && record.acquireTime ? record.acquireTime : microTime(new Date(now)),
      renewTime: microTime(new Date(now)),
      leaseTransitions: holder === identity ? (record.leaseTransitions ?? 0) : (record.leaseTransitions ?? 0) + 1,
    };
    let written: Lease;
    try {
      written = await client.replace<Lease>(LEASE_RESOURCE, namespace, this.name, { ...lease, spec });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.#observe(spec, now);
    this.#token = this.#tokenOf(written);
    return true;
  }

  #tokenOf(lease: Lease): LeadershipToken {
    return {
      lease: `${this.#options.namespace}/${this.name}`,
      leaseUid: lease.metadata?.uid ?? '',
      transitions: lease.spec?.leaseTransitions ?? 0,
      acquireTime: lease.spec?.acquireTime ?? '',
      holder: this.#options.identity,
    };
  }

  #observe(record: LeaseSpec, now: number): void {
    const text = JSON.stringify([record.holderIdentity ?? '', record.renewTime ?? '', record.acquireTime ?? '', record.leaseTransitions ?? 0]);
    if (text !== this.#observedRecord) {
      this.#observedRecord = text;
      this.#observedAt = now;
      const holder = record.holderIdentity ?? '';
      if (holder !== this.#observedHolder) {
        this.#observedHolder = holder;
        if (holder !== '') this.#options.onNewLeader?.(holder);
      }
    }
  }

  async #release(): Promise<void> {
    const { client, namespace, identity } = this.#options;
    try {
      const lease = await client.get<Lease>(LEASE_RESOURCE, namespace, this.name);
      if ((lease.spec?.holderIdentity ?? '') !== identity) return;
      const now = microTime(this.#options.clock.now());
      await client.replace(LEASE_RESOURCE, namespace, this.name, {
        ...lease,
        spec: { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec?.leaseTransitions ?? 0 },
      });
      this.#holding = false;
      this.#log.info({ lease: `${namespace}/${this.name}` }, 'leader election: released the lease');
    } catch (err) {
      this.#log.warn({ lease: `${namespace}/${this.name}`, err: errorMessage(err) }, 'leader election: cannot release the lease');
    }
  }
}
