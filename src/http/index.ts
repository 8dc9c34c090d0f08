// The decision API assembled: the facts cache, the change watcher that drops
// it, the usage counter, the service and the HTTP server. `gatehouse serve`
// and `gatehouse run --decisions-listen` start it the same way.
import type { Store } from '../store/store.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { watchStoreChanges } from './changes.js';
import { FactsCache } from './facts.js';
import { startDecisionServer, type DecisionServerOptions } from './server.js';
import { DecisionService } from './service.js';
import { UsageRecorder } from './usage.js';

export { DecisionReason, DECISION_REASONS, decide, decideLogin } from './decide.js';
export { createApiToken, listApiTokens, revokeApiToken, TokenError } from './tokens.js';
export { DecisionService, type CheckAnswer, type CheckInput } from './service.js';
export { FactsCache } from './facts.js';

export interface DecisionApiOptions {
  store: Store;
  /** The store's DSN (PostgreSQL change notifications need their own connection). */
  dsn?: string;
  host: string;
  port: number;
  logger: Logger;
  clock?: Clock;
  https?: DecisionServerOptions['https'];
  rateLimitPerSecond?: number;
  bodyLimit?: number;
  /** Base URL of the SAML service provider (entity id, ACS); default: each request's scheme and Host. */
  publicUrl?: string;
}

export interface RunningDecisionApi {
  url: string;
  close(): Promise<void>;
}

export async function runDecisionApi(options: DecisionApiOptions): Promise<RunningDecisionApi> {
  const facts = new FactsCache(options.store);
  const watcher = await watchStoreChanges({
    store: options.store,
    ...(options.dsn !== undefined ? { dsn: options.dsn } : {}),
    onChange: () => facts.invalidate(),
    onWatching: (watching) => {
      facts.cacheable = watching;
    },
    logger: options.logger,
  });
  facts.cacheable = watcher.watching;
  const clock = options.clock ?? systemClock;
  const usage = new UsageRecorder(options.store, { clock });
  usage.start();
  const service = new DecisionService({ store: options.store, facts, clock, usage });
  try {
    const server = await startDecisionServer({
      service,
      host: options.host,
      port: options.port,
      logger: options.logger,
      ready: () => watcher.watching,
      ...(options.https !== undefined ? { https: options.https } : {}),
      ...(options.rateLimitPerSecond !== undefined ? { rateLimitPerSecond: options.rateLimitPerSecond } : {}),
      ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
      ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {}),
    });
    return {
      url: server.url,
      async close() {
        await server.close();
        await usage.close().catch((err: unknown) => options.logger.warn({ err: String(err) }, 'could not write the last permission usage counts'));
        await watcher.close();
      },
    };
  } catch (err) {
    await usage.close().catch(() => {});
    await watcher.close();
    throw err;
  }
}
