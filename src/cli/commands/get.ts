// gatehouse get workspaces|roles|members|supportgrants: what the identity store
// holds, as tables with phases and times, or JSON. Search by name or email (F4).
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { grantStateAt, memberStateAt } from '../../reconcile/records.js';
import { listMembers, listRoles, listSupportGrants, listWorkspaces } from '../../store/queries.js';
import { parseAt } from './validate.js';
import { openStoreOption, STORE_OPTION_HELP } from './plan.js';

export const RESOURCES = ['workspaces', 'roles', 'members', 'supportgrants'] as const;
type Resource = (typeof RESOURCES)[number];

/** Singular and short names kubectl users type. */
const ALIASES: Record<string, Resource> = {
  workspace: 'workspaces',
  gws: 'workspaces',
  role: 'roles',
  grole: 'roles',
  member: 'members',
  gm: 'members',
  gmember: 'members',
  supportgrant: 'supportgrants',
  sg: 'supportgrants',
};

interface GetOptions {
  workspace?: string;
  search?: string;
  output: 'table' | 'json';
  store?: string;
  at?: string;
}

/** Columns padded to their widest cell, kubectl style. */
export function formatTable(header: string[], rows: string[][]): string {
  if (rows.length === 0) return 'No resources found.\n';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const dash = (value: string | number | undefined | null) => (value === undefined || value === null || value === '' ? '-' : String(value));
const time = (iso: string | undefined) => (iso === undefined ? '-' : iso.replace(/\.000Z$/, 'Z'));

export function register(program: Command): void {
  program
    .command('get')
    .description('List what the identity store holds: workspaces, roles, members or supportgrants, with phases and times.')
    .addArgument(new Argument('<resource>', `one of ${RESOURCES.join(', ')}`).argParser((value: string) => {
      const resource = (RESOURCES as readonly string[]).includes(value) ? (value as Resource) : ALIASES[value];
      if (resource === undefined) throw new InvalidArgumentError(`unknown resource "${value}"; use one of ${RESOURCES.join(', ')}`);
      return resource;
    }))
    .option('--workspace <id>', 'only this workspace (its workspaceId)')
    .option('--search <text>', 'only rows whose name or email (id, for workspaces and roles) contains this text, in any letter case')
    .addOption(new Option('-o, --output <format>', 'table for people, json for tools').choices(['table', 'json']).default('table'))
    .option('--store <dsn>', STORE_OPTION_HELP)
    .option('--at <time>', 'show phases as of this RFC 3339 instant instead of now')
    .action(async (resource: Resource, _options: GetOptions, command: Command) => {
      const options = command.optsWithGlobals<GetOptions>();
      const at = parseAt(options.at).toISOString();
      const filter = {
        ...(options.workspace !== undefined ? { workspaceId: options.workspace } : {}),
        ...(options.search !== undefined ? { search: options.search } : {}),
      };
      const store = await openStoreOption(options.store, 'fail');
      try {
        const out = (json: unknown, header: string[], rows: string[][]) =>
          process.stdout.write(options.output === 'json' ? `${JSON.stringify(json, null, 2)}\n` : formatTable(header, rows));
        switch (resource) {
          case 'workspaces': {
            const list = await listWorkspaces(store.db, filter);
            out(
              list.map(({ writtenDigest: _d, ...w }) => w),
              ['WORKSPACE-ID', 'NAME', '2FA', 'SSO', 'MEMBERS', 'ADMINS', 'SUPPORT', 'MANAGED', 'SOURCE'],
              list.map((w) => [
                w.workspaceId,
                w.displayName,
                w.twoFactor,
                w.ssoEnforced ? 'Enforced' : w.samlIdpEntityId ? 'Available' : 'Off',
                String(w.memberCount),
                String(w.adminCount),
                w.supportAllowed ? `${w.activeSupportGrants} active` : 'Not allowed',
                w.managed ? 'yes' : 'no',
                w.source ? `${w.source.namespace}/${w.source.name}` : '-',
              ]),
            );
            return;
          }
          case 'roles': {
            const list = await listRoles(store.db, filter);
            out(
              list.map(({ writtenDigest: _d, ...r }) => r),
              ['WORKSPACE', 'ROLE', 'NAME', 'DEFAULT', 'ADMIN', 'PERMISSIONS', 'MEMBERS'],
              list.map((r) => [
                r.workspaceId,
                r.roleId,
                r.displayName,
                r.builtin ? 'yes' : 'no',
                r.administrative ? 'yes' : 'no',
                String(r.permissions.length),
                String(r.memberCount),
              ]),
            );
            return;
          }
          case 'members': {
            const list = await listMembers(store.db, filter);
            const withPhase = list.map((m) => {
              const { writtenDigest: _d, ...rest } = m;
              return { ...rest, phase: memberStateAt(m, at).state };
            });
            out(
              withPhase,
              ['WORKSPACE', 'EMAIL', 'NAME', 'ROLE', 'LOGIN', 'PHASE', 'INVITATION', 'SENT', 'EXPIRES', 'LAST-LOGIN'],
              withPhase.map((m) => [
                m.workspaceId,
                m.email,
                m.displayName,
                m.roleId ?? '(no role)',
                m.loginType,
                m.phase,
                dash(m.invitation ? (m.invitation.state === 'Waiting' && m.invitation.expiresAt <= at ? 'Expired' : m.invitation.state) : undefined),
                time(m.invitation?.sentAt),
                time(m.expiresAt),
                time(m.lastLoginAt),
              ]),
            );
            return;
          }
          case 'supportgrants': {
            const list = await listSupportGrants(store.db, filter);
            const withPhase = list.map((g) => {
              const { writtenDigest: _d, ...rest } = g;
              return { ...rest, phase: grantStateAt(g, at) };
            });
            out(
              withPhase,
              ['WORKSPACE', 'NAME', 'GRANTEE', 'SCOPE', 'ACCESS', 'PHASE', 'STARTS', 'ENDS', 'TICKET'],
              withPhase.map((g) => [
                g.workspaceId,
                g.name,
                g.granteeType === 'Agents' ? g.agents.join(',') : 'SupportTeam',
                g.scopeType === 'Member' ? `member ${dash(g.scopeMemberEmail)}` : 'Workspace',
                g.accessLevel,
                g.phase,
                time(g.startsAt),
                time(g.endsAt),
                dash(g.ticket),
              ]),
            );
            return;
          }
        }
      } finally {
        await store.close();
      }
    });
}
