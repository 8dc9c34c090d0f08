// gatehouse token create|revoke|list: bearer tokens of the decision API.
// `create` prints the token once; the store keeps only its hash.
import { Option, type Command } from 'commander';
import { createApiToken, listApiTokens, revokeApiToken, TokenError } from '../../http/tokens.js';
import { UsageError } from '../../util/errors.js';
import { formatTable } from './get.js';
import { cliActor, openStoreOption, STORE_OPTION_HELP } from './plan.js';

interface TokenOptions {
  store?: string;
  output?: 'table' | 'json';
}

async function withStore<T>(flag: string | undefined, ifMissing: 'create' | 'fail', fn: (store: Awaited<ReturnType<typeof openStoreOption>>) => Promise<T>): Promise<T> {
  const store = await openStoreOption(flag, ifMissing);
  try {
    return await fn(store);
  } catch (err) {
    if (err instanceof TokenError) throw new UsageError(err.message);
    throw err;
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  const token = program.command('token').description('Manage the bearer tokens applications use to call the decision API (gatehouse serve).');
  token
    .command('create <name>')
    .description('Create a token and print it once; only its hash is stored. Give each application its own, named after it.')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .action(async (name: string, _o: TokenOptions, command: Command) => {
      const options = command.optsWithGlobals<TokenOptions>();
      const value = await withStore(options.store, 'create', (store) => createApiToken(store, { name, actor: cliActor(), at: new Date() }));
      process.stdout.write(`${value}\n`);
      process.stderr.write(`Token ${name} created. It is shown only now: store it as a secret for the application.\n`);
    });
  token
    .command('revoke <name>')
    .description('Revoke a token; gatehouse serve refuses it within a second.')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .action(async (name: string, _o: TokenOptions, command: Command) => {
      const options = command.optsWithGlobals<TokenOptions>();
      await withStore(options.store, 'fail', (store) => revokeApiToken(store, { name, actor: cliActor(), at: new Date() }));
      process.stdout.write(`Token ${name} revoked.\n`);
    });
  token
    .command('list')
    .description('List tokens by name (never their values).')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .addOption(new Option('-o, --output <format>', 'table for people, json for tools').choices(['table', 'json']).default('table'))
    .action(async (_o: TokenOptions, command: Command) => {
      const options = command.optsWithGlobals<TokenOptions>();
      const tokens = await withStore(options.store, 'fail', (store) => listApiTokens(store));
      if (options.output === 'json') process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
      else process.stdout.write(formatTable(['NAME', 'CREATED', 'BY', 'REVOKED'], tokens.map((t) => [t.name, t.createdAt, t.createdBy, t.revokedAt ?? '-'])));
    });
}
