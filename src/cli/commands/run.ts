// gatehouse run: the operator. Watches Workspaces, Roles, Members and
// SupportGrants (all namespaces or the ones named) and keeps the identity
// store in step with them. In a cluster it uses the pod's service account;
// elsewhere a kubeconfig. SIGTERM or SIGINT stops it gracefully (exit 0).
import type { Command } from 'commander';
import { OPERATOR_ACTOR, StoreEngine } from '../../kube/controller/engine-adapter.js';
import { loadKubeConfig } from '../../kube/client.js';
import { DEFAULT_LEASE_NAME, DEFAULT_LEADER_ELECTION_TIMING } from '../../kube/leader-election.js';
import { checkLeaseNamespace, defaultOperatorNamespace, LeaseNamespaceError } from '../../kube/lease-namespace.js';
import { DEFAULT_RESYNC_PERIOD_MS, DEFAULT_STORE_POLL_MS, DEFAULT_WORKERS, Operator } from '../../kube/operator.js';
import { parseListenAddress } from '../../kube/servers.js';
import { DurationFormatError, parseDuration } from '../../model/duration.js';
import { openStore, redactDsn, storeDsnFrom } from '../../store/index.js';
import { errorMessage, UsageError } from '../../util/errors.js';
import { createLogger } from '../../util/log.js';
import { registerWebhookFlags, startAdmissionWebhook, storeDeletionClaimRecorder, webhookOptionsFromFlags, type AdmissionWebhook, type WebhookFlags } from '../../kube/webhook/index.js';
import { PROFILE_OPTION_HELP, readProfileOption } from '../profile-option.js';
import { runDecisionApi, type RunningDecisionApi } from '../../http/index.js';
import { DEFAULT_RATE_LIMIT_PER_SECOND } from '../../http/server.js';
import { decisionApiSettings } from './serve.js';
import { AUDIT_KEY_FILE_ENV } from '../../store/audit-key.js';
import { auditKeysOption } from './plan.js';
import { StorePreparer } from '../../store/readiness.js';
import { applyHeapGrowth, DEFAULT_HEAP_GROWTH_PERCENT, parseHeapGrowth } from '../heap-growth.js';
import { keepMemoryReducerPausesShort } from '../memory-reducer.js';

export interface RunOptions extends WebhookFlags {
  kubeconfig?: string;
  namespace: string[];
  store?: string;
  workers: string;
  heapGrowth: string;
  resyncPeriod: string;
  storePollInterval: string;
  leaderElect: boolean;
  leaseNamespace?: string;
  leaseName: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  probeListen: string;
  metricsListen: string;
  logLevel: string;
  profile?: string;
  decisionsListen?: string;
  decisionsTlsCert?: string;
  decisionsTlsKey?: string;
  decisionsRateLimit?: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

export function register(program: Command): void {
  const command = program
    .command('run')
    .description(
      'Run the operator: reconcile Workspaces, Roles, Members and SupportGrants from the cluster into the identity store, with leader election, probes (/healthz, /readyz) and Prometheus metrics (/metrics). Stops gracefully on SIGTERM or SIGINT.',
    )
    .option('--kubeconfig <path>', 'kubeconfig file; default: in-cluster config when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config')
    .option('--namespace <ns>', 'namespace to watch; repeat or separate with commas; default: all namespaces', collect, [])
    .option('--store <dsn>', 'identity store: postgres://USER@HOST:PORT/DB, sqlite:PATH or a file path (default $GATEHOUSE_STORE, else .gatehouse/gatehouse.db)')
    .option('--workers <n>', 'objects reconciled in parallel', String(DEFAULT_WORKERS))
    .option('--heap-growth <percent>', 'how far the heap may grow above its live data before a full garbage collection; lower: less memory, more CPU; 0: left to V8 (several times the live data)', String(DEFAULT_HEAP_GROWTH_PERCENT))
    .option('--resync-period <duration>', 'how often every object is reconciled again to correct drift', seconds(DEFAULT_RESYNC_PERIOD_MS))
    .option('--store-poll-interval <duration>', 'how often the store is read for changes the application made (invitations accepted, logins)', seconds(DEFAULT_STORE_POLL_MS))
    .option('--leader-elect', 'elect a leader through a Lease so only one replica reconciles (default)', true)
    .option('--no-leader-elect', 'reconcile without a lease (a single replica)')
    .option('--lease-namespace <ns>', 'namespace of the leader Lease; it must exist (default $POD_NAMESPACE, else the kubeconfig context\'s namespace, else default)')
    .option('--lease-name <name>', 'name of the leader Lease', DEFAULT_LEASE_NAME)
    .option('--lease-duration <duration>', 'how long a lease holds without renewal', seconds(DEFAULT_LEADER_ELECTION_TIMING.leaseDurationMs))
    .option('--renew-deadline <duration>', 'how long the leader keeps trying to renew before it stops reconciling', seconds(DEFAULT_LEADER_ELECTION_TIMING.renewDeadlineMs))
    .option('--retry-period <duration>', 'how often candidates try to acquire and the leader renews', seconds(DEFAULT_LEADER_ELECTION_TIMING.retryPeriodMs))
    .option('--probe-listen <addr>', 'address of /healthz and /readyz; empty turns it off', ':8081')
    .option('--metrics-listen <addr>', 'address of /metrics; empty turns it off', ':8080')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--profile <file>', PROFILE_OPTION_HELP)
    .option('--decisions-listen <addr>', 'also serve the decision API (as gatehouse serve) on this address; empty: off', '')
    .option('--decisions-tls-cert <file>', 'PEM certificate for the decision API (with --decisions-tls-key)')
    .option('--decisions-tls-key <file>', 'PEM private key of --decisions-tls-cert')
    .option('--decisions-rate-limit <n>', 'decision API requests per second per client address; 0: no limit', String(DEFAULT_RATE_LIMIT_PER_SECOND));
  registerWebhookFlags(command).action(async (_options: RunOptions, self: Command) => {
    const options = self.optsWithGlobals<RunOptions>();
    // Set for this process only when it is the operator's own (not in callers of runOperatorCommand).
    applyHeapGrowth(parseHeapGrowth(options.heapGrowth));
    if (options.decisionsListen !== undefined) keepMemoryReducerPausesShort();
    await runOperatorCommand(options);
  });
}

function duration(flag: string, text: string): number {
  try {
    const ms = parseDuration(text);
    if (ms <= 0) throw new UsageError(`${flag} must be positive, got "${text}"`);
    return ms;
  } catch (err) {
    if (err instanceof DurationFormatError) throw new UsageError(`${flag} "${text}" is not a duration; write it like 30s, 10m or 1h`);
    throw err;
  }
}

/** Runs until SIGTERM or SIGINT, then stops gracefully. */
export async function runOperatorCommand(options: RunOptions, signals: NodeJS.EventEmitter = process): Promise<void> {
  if (!LOG_LEVELS.includes(options.logLevel)) throw new UsageError(`--log-level "${options.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const workers = Number(options.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be a whole number of at least 1, got "${options.workers}"`);
  const resyncPeriodMs = duration('--resync-period', options.resyncPeriod);
  const storePollMs = duration('--store-poll-interval', options.storePollInterval);
  const timing = {
    leaseDurationMs: duration('--lease-duration', options.leaseDuration),
    renewDeadlineMs: duration('--renew-deadline', options.renewDeadline),
    retryPeriodMs: duration('--retry-period', options.retryPeriod),
  };
  if (!(timing.retryPeriodMs < timing.renewDeadlineMs && timing.renewDeadlineMs < timing.leaseDurationMs)) {
    throw new UsageError('--retry-period must be shorter than --renew-deadline, and --renew-deadline shorter than --lease-duration');
  }
  const probeListen = parseListenAddress(options.probeListen, '--probe-listen');
  const metricsListen = parseListenAddress(options.metricsListen, '--metrics-listen');
  const profile = readProfileOption(options.profile);
  const decisionsListen = parseListenAddress(options.decisionsListen ?? '', '--decisions-listen');
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(options.kubeconfig);
  } catch (err) {
    throw new UsageError(`cannot load the Kubernetes configuration${options.kubeconfig ? ` from ${options.kubeconfig}` : ''}: ${errorMessage(err)}`);
  }
  const operatorNamespace = defaultOperatorNamespace(kubeConfig);
  const webhookSettings = webhookOptionsFromFlags(options, { namespace: operatorNamespace });
  const log = createLogger({ level: options.logLevel, name: 'gatehouse' });
  // Listening from the start: a signal while Gatehouse starts is not lost, it stops it once started.
  const stop = listenForStop(signals, log);
  try {
    const decisionsSettings =
      decisionsListen === undefined
        ? undefined
        : decisionApiSettings(
            {
              rateLimit: options.decisionsRateLimit ?? String(DEFAULT_RATE_LIMIT_PER_SECOND),
              ...(options.decisionsTlsCert !== undefined ? { tlsCert: options.decisionsTlsCert } : {}),
              ...(options.decisionsTlsKey !== undefined ? { tlsKey: options.decisionsTlsKey } : {}),
            },
            log,
          );
    const leaseNamespace = options.leaseNamespace ?? operatorNamespace;
    if (options.leaderElect) {
      try {
        await checkLeaseNamespace(kubeConfig, leaseNamespace, options.leaseName);
      } catch (err) {
        if (err instanceof LeaseNamespaceError) throw new UsageError(err.message);
        throw err;
      }
    }
    const dsn = storeDsnFrom(options.store);
    const auditKeys = auditKeysOption();
    if (auditKeys === undefined) {
      log.warn(`no audit key ($${AUDIT_KEY_FILE_ENV}): audit entries are not authenticated and no checkpoints are exported; see docs/security.md`);
    }
    // The schema is brought up to date in the background, retrying with backoff:
    // the operator starts while its database is down and gets ready when it is back.
    const store = await openStore(dsn, { migrate: false, ...(auditKeys !== undefined ? { auditKeys } : {}) });
    const preparer = new StorePreparer(store, {
      onError: (message, attempt) => log.warn({ store: store.location, attempt, err: message }, 'identity store not ready; retrying with backoff'),
      onReady: () => log.info({ store: store.location, dsn: dsn === undefined ? undefined : redactDsn(dsn), auditKeyId: auditKeys?.signing.id }, 'identity store open'),
    });
    preparer.start();
    const engine = new StoreEngine(store, profile, OPERATOR_ACTOR, preparer);
    if (webhookSettings === undefined) {
      log.info({}, 'admission webhook off (serve it with --webhook-cert-dir DIR, --webhook-self-signed --webhook-service NAME, or --webhook-url URL)');
    }

    // The webhook starts once the operator's cache (its index) exists; until it
    // serves, /readyz says not ready.
    let webhook: AdmissionWebhook | undefined;
    const readinessChecks =
      webhookSettings === undefined
        ? []
        : [
            {
              name: 'webhook',
              check: () => {
                if (webhook?.ready() !== true) throw new Error('the admission webhook is not serving yet');
              },
            },
          ];
    let operator: Operator;
    try {
      operator = await Operator.start({
        kubeConfig,
        engine,
        profile,
        namespaces: options.namespace,
        workers,
        resyncPeriodMs,
        storePollMs,
        leaderElection: options.leaderElect ? { namespace: leaseNamespace, name: options.leaseName, timing } : false,
        ...(probeListen ? { probeListen } : {}),
        ...(metricsListen ? { metricsListen } : {}),
        readinessChecks,
        // The webhook must keep answering (revocations included) while the store is down.
        storeGatesReadiness: webhookSettings === undefined,
        log,
      });
    } catch (err) {
      await engine.close().catch(() => undefined);
      throw err;
    }
    if (webhookSettings !== undefined) {
      try {
        webhook = await startAdmissionWebhook({
          ...webhookSettings,
          index: operator.index,
          profile,
          kubeConfig,
          logger: log.child({ component: 'webhook' }),
          registry: operator.metrics.registry,
          // Who deleted an object, for the audit log; best effort, never a gate.
          deletionClaims: storeDeletionClaimRecorder(store, preparer),
        });
        log.info({ url: webhook.url }, 'admission webhook serving');
      } catch (err) {
        await operator.stop();
        throw err;
      }
    }

    let decisions: RunningDecisionApi | undefined;
    if (decisionsListen !== undefined && decisionsSettings !== undefined) {
      try {
        decisions = await runDecisionApi({
          store,
          ...(dsn !== undefined ? { dsn } : {}),
          host: decisionsListen.host,
          port: decisionsListen.port,
          logger: log.child({ component: 'decisions' }),
          ...decisionsSettings,
        });
        log.info({ url: decisions.url }, 'decision API serving');
      } catch (err) {
        await webhook?.close();
        await operator.stop();
        throw err;
      }
    }

    await stop.requested;
    await decisions?.close();
    await webhook?.close();
    await operator.stop();
  } catch (err) {
    stop.dispose();
    throw err;
  }
}

/**
 * Resolves `requested` on the first SIGTERM or SIGINT; a second one ends the
 * process at once. `dispose` stops listening (start-up failed).
 */
function listenForStop(signals: NodeJS.EventEmitter, log: { info: (fields: object, msg: string) => void }): { requested: Promise<void>; dispose(): void } {
  let onSignal: (signal: string) => void = () => {};
  const dispose = () => {
    signals.off('SIGTERM', onSignal);
    signals.off('SIGINT', onSignal);
  };
  const requested = new Promise<void>((resolve) => {
    onSignal = (signal: string) => {
      log.info({ signal }, 'signal received; stopping');
      dispose();
      signals.once('SIGTERM', () => process.exit(1));
      signals.once('SIGINT', () => process.exit(1));
      resolve();
    };
  });
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);
  return { requested, dispose };
}
