// gatehouse serve: the decision API for the SaaS application, on its own.
// `gatehouse run --decisions-listen` serves the same API beside the operator.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { runDecisionApi } from '../../http/index.js';
import { keepMemoryReducerPausesShort } from '../memory-reducer.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_RATE_LIMIT_PER_SECOND } from '../../http/server.js';
import { parseListenAddress } from '../../kube/servers.js';
import { openStore, storeDsnFrom } from '../../store/index.js';
import { errorMessage, UsageError } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/log.js';
import { STORE_OPTION_HELP } from './plan.js';

export interface DecisionApiFlags {
  tlsCert?: string;
  tlsKey?: string;
  rateLimit: string;
  publicUrl?: string;
  clientCa?: string;
}

interface ServeOptions extends DecisionApiFlags {
  store?: string;
  listen: string;
  logLevel: string;
}

export function registerDecisionApiFlags(command: Command): Command {
  return command
    .option('--tls-cert <file>', 'PEM certificate to serve the decision API over HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--client-ca <file>', 'PEM CA: clients presenting a certificate it signed are let in by their certificate (mTLS), named by its common name, without a token')
    .option('--public-url <url>', 'the URL applications and identity providers reach this API at; the SAML service provider entity id and ACS URL derive from it')
    .option('--rate-limit <n>', 'decision API requests per second per client address; 0: no limit', String(DEFAULT_RATE_LIMIT_PER_SECOND));
}

/** Reads the API flags; no TLS is allowed but logged, for a loopback or a mesh that terminates TLS. */
export function decisionApiSettings(flags: DecisionApiFlags, log: Logger) {
  const rateLimitPerSecond = Number(flags.rateLimit);
  if (!Number.isInteger(rateLimitPerSecond) || rateLimitPerSecond < 0) throw new UsageError(`--rate-limit "${flags.rateLimit}" is not a whole number of requests per second`);
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both, or neither');
  if (flags.clientCa !== undefined && flags.tlsCert === undefined) throw new UsageError('--client-ca needs --tls-cert and --tls-key: client certificates are only asked for over TLS');
  let https;
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
    try {
      https = {
        cert: readFileSync(flags.tlsCert),
        key: readFileSync(flags.tlsKey),
        ...(flags.clientCa !== undefined ? { clientCa: readFileSync(flags.clientCa) } : {}),
      };
    } catch (err) {
      throw new UsageError(`cannot read the TLS certificate, key or client CA: ${errorMessage(err)}`);
    }
  } else {
    log.warn('the decision API serves plain HTTP: give --tls-cert and --tls-key unless TLS ends in front of it');
  }
  let publicUrl: string | undefined;
  if (flags.publicUrl !== undefined) {
    try {
      const url = new URL(flags.publicUrl);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http or https');
      publicUrl = url.toString().replace(/\/+$/, '');
    } catch {
      throw new UsageError(`--public-url "${flags.publicUrl}" is not an http(s) URL; write it like https://gatehouse.example.com`);
    }
  }
  return { rateLimitPerSecond, bodyLimit: DEFAULT_BODY_LIMIT, ...(https !== undefined ? { https } : {}), ...(publicUrl !== undefined ? { publicUrl } : {}) };
}

export function register(program: Command): void {
  const command = program
    .command('serve')
    .description('Serve the decision API: access decisions at request time, invitations, logins and member search, with bearer tokens (gatehouse token create), /healthz, /readyz, /metrics and /openapi.json.')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .option('--listen <addr>', 'address to serve on', ':8090')
    .option('--log-level <level>', 'log level', 'info');
  registerDecisionApiFlags(command).action(async (_o: ServeOptions, self: Command) => {
    const options = self.optsWithGlobals<ServeOptions>();
    // Set for this process only when it is the API's own (as `run` does with --decisions-listen).
    keepMemoryReducerPausesShort();
    const listen = parseListenAddress(options.listen, '--listen');
    if (listen === undefined) throw new UsageError('--listen must name an address, like :8090');
    const log = createLogger({ level: options.logLevel, name: 'gatehouse' });
    const settings = decisionApiSettings(options, log);
    const dsn = storeDsnFrom(options.store);
    const store = await openStore(dsn);
    let api;
    try {
      api = await runDecisionApi({ store, ...(dsn !== undefined ? { dsn } : {}), host: listen.host, port: listen.port, logger: log, ...settings });
    } catch (err) {
      await store.close();
      throw err;
    }
    log.info({ url: api.url, store: store.location }, 'decision API serving');
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await api.close();
    await store.close();
  });
}
