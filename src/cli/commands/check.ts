// gatehouse check: one access decision from a shell, against the store, with
// the same policy as the decision API. Exit 0: allow; 3: deny (the reason is
// printed); 2: bad flags. A support decision is audited as the API audits it.
import { Option, type Command } from 'commander';
import { FactsCache } from '../../http/facts.js';
import { DecisionService } from '../../http/service.js';
import { UsageError } from '../../util/errors.js';
import { cliActor, openStoreOption, STORE_OPTION_HELP } from './plan.js';
import { parseAt } from './validate.js';

export const EXIT_DENIED = 3;

interface CheckOptions {
  workspace: string;
  subject: string;
  permission: string;
  support?: boolean;
  account?: string;
  ip?: string;
  loginMethod?: 'local' | 'sso';
  mfa?: boolean;
  idle?: string;
  at?: string;
  store?: string;
  output: 'text' | 'json';
}

export function register(program: Command): void {
  program
    .command('check')
    .description('Decide one request as the decision API would: exit 0 when allowed, 3 when denied, with the reason.')
    .requiredOption('--workspace <id>', 'the workspace id')
    .requiredOption('--subject <email>', 'who acts: a member\'s email, or a support agent\'s with --support')
    .requiredOption('--permission <id>', 'the permission, such as view-dashboard')
    .option('--support', 'the subject is a vendor support agent')
    .option('--account <email>', 'support only: the member account acted on')
    .option('--ip <address>', 'the address the request comes from')
    .addOption(new Option('--login-method <method>', 'how the session signed in').choices(['local', 'sso']))
    .option('--mfa', 'the session passed a second factor')
    .option('--idle <seconds>', 'seconds since the session\'s last activity', '0')
    .option('--at <time>', 'decide at this RFC 3339 instant instead of now')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .addOption(new Option('-o, --output <format>', 'text for people, json for tools').choices(['text', 'json']).default('text'))
    .action(async (_o: CheckOptions, command: Command) => {
      const options = command.optsWithGlobals<CheckOptions>();
      const idleSeconds = Number(options.idle ?? '0');
      if (!Number.isInteger(idleSeconds) || idleSeconds < 0) throw new UsageError(`--idle "${options.idle}" is not a whole number of seconds`);
      const at = parseAt(options.at);
      const store = await openStoreOption(options.store, 'fail');
      try {
        const service = new DecisionService({ store, facts: new FactsCache(store), clock: { now: () => at, schedule: () => () => {} } });
        const answer = await service.check(
          {
            workspace: options.workspace,
            subject: options.subject,
            subjectType: options.support ? 'support' : 'member',
            permission: options.permission,
            ...(options.ip !== undefined ? { ip: options.ip } : {}),
            ...(options.loginMethod !== undefined ? { loginMethod: options.loginMethod } : {}),
            mfa: options.mfa === true,
            idleSeconds,
            ...(options.account !== undefined ? { account: options.account } : {}),
          },
          cliActor(),
        );
        if (options.output === 'json') process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        else process.stdout.write(`${answer.decision} ${answer.reason} (valid until ${answer.validUntil}${answer.grant !== undefined ? `, grant ${answer.grant}` : ''})\n`);
        if (answer.decision === 'deny') process.exitCode = EXIT_DENIED;
      } finally {
        await store.close();
      }
    });
}
