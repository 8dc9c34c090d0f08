// Generated declarations for engine tests and the store benchmark: valid sets
// of Workspaces, Roles, Members and SupportGrants, regular (N workspaces x M
// members) or random from a seed (property tests).
import type { GatehouseObject } from '../../src/model/kinds.js';
import type { Member } from '../../src/model/member.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../../src/rules/testing/builders.js';
import { seededRandom } from './random.js';

export interface RegularDeclaration {
  workspaces: number;
  membersPerWorkspace: number;
  /** Namespace per workspace (default: one namespace `bench`). */
  namespacePerWorkspace?: boolean;
}

const ROLES = ['manager', 'editor', 'viewer', 'analyst'] as const;

/**
 * N workspaces with M members each: one admin, the rest spread over default
 * roles and one custom role; every tenth member has temporary access.
 */
export function generateDeclaration(options: RegularDeclaration): GatehouseObject[] {
  const out: GatehouseObject[] = [];
  for (let w = 0; w < options.workspaces; w += 1) {
    const ws = `ws-${String(w).padStart(3, '0')}`;
    const namespace = options.namespacePerWorkspace ? ws : 'bench';
    out.push(aWorkspace({ name: ws, namespace, spec: { workspaceId: ws, displayName: `Workspace ${w}` } }));
    out.push(
      aRole({
        name: 'analyst',
        namespace,
        metadata: { name: `${ws}-analyst` },
        spec: { workspaceRef: { name: ws }, displayName: 'Analyst', permissions: ['view-dashboard', 'create-segment', 'view-user-profile'] },
      }),
    );
    for (let m = 0; m < options.membersPerWorkspace; m += 1) {
      const name = `${ws}-m${String(m).padStart(4, '0')}`;
      const role = m === 0 ? 'admin' : (ROLES[m % ROLES.length] as string);
      out.push(
        aMember({
          name,
          namespace,
          spec: {
            workspaceRef: { name: ws },
            email: `person${m}@${ws}.example`,
            displayName: `Person ${m} of ${ws}`,
            role: role === 'analyst' ? `${ws}-analyst` : role,
            ...(m % 10 === 9 ? { expiresAt: '2027-06-01T00:00:00Z' } : {}),
            ...(m % 7 === 3 ? { phone: `+4930${String(100000 + m)}` } : {}),
          },
        }),
      );
    }
  }
  return out;
}

/**
 * A random valid declaration: a few workspaces, custom roles, members with
 * random roles, temporary access, resend counters and deletion policies, and
 * support grants. Times are around `at`.
 */
export function randomDeclaration(seed: number, at: Date): GatehouseObject[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const out: GatehouseObject[] = [];
  const hours = (h: number) => new Date(at.getTime() + h * 3_600_000).toISOString();
  const workspaces = 1 + Math.floor(random() * 3);
  for (let w = 0; w < workspaces; w += 1) {
    const ws = `w${w}`;
    out.push(
      aWorkspace({
        name: ws,
        spec: {
          workspaceId: `${ws}-${seed}`,
          displayName: `W ${w}`,
          invitationLifetime: pick(['24h', '168h', '1h']),
          deletionPolicy: pick(['Delete', 'Orphan'] as const),
          admins: { min: 0, max: 2 },
        },
      }),
    );
    const customRoles: string[] = [];
    for (let r = 0; r < Math.floor(random() * 3); r += 1) {
      const name = `${ws}-role${r}`;
      customRoles.push(name);
      out.push(
        aRole({
          name,
          spec: {
            workspaceRef: { name: ws },
            displayName: `Role ${ws} ${r}`,
            permissions: ['view-dashboard', ...(random() < 0.5 ? ['create-segment'] : []), ...(random() < 0.3 ? ['export-users'] : [])],
            deletionPolicy: pick(['Delete', 'Orphan'] as const),
          },
        }),
      );
    }
    const members: Member[] = [];
    const count = Math.floor(random() * 8);
    let admins = 0;
    for (let m = 0; m < count; m += 1) {
      let role: string | undefined = pick(['viewer', 'editor', 'manager', 'admin', ...customRoles, undefined] as const);
      if (role === 'admin' && ++admins > 2) role = 'viewer';
      const member = aMember({
        name: `${ws}-m${m}`,
        spec: {
          workspaceRef: { name: ws },
          email: `${random() < 0.2 ? 'Mixed.Case' : 'person'}${m}@${ws}.example`,
          displayName: `Person ${m}`,
          role,
          ...(random() < 0.3 ? { expiresAt: hours(1 + Math.floor(random() * 500)) } : {}),
          ...(random() < 0.2 ? { invitation: { resend: Math.floor(random() * 3) } } : {}),
          ...(random() < 0.3 ? { loginType: 'Local' as const } : {}),
          ...(random() < 0.2 ? { deletionPolicy: 'Orphan' as const } : {}),
        },
      });
      members.push(member);
      out.push(member);
    }
    const grants = Math.floor(random() * 3);
    for (let g = 0; g < grants; g += 1) {
      const scopeMember = members.length > 0 && random() < 0.3 ? pick(members) : undefined;
      out.push(
        aSupportGrant({
          name: `${ws}-grant${g}`,
          spec: {
            workspaceRef: { name: ws },
            ...(random() < 0.5 ? { startsAt: hours(Math.floor(random() * 48)) } : {}),
            duration: pick(['24h', '168h', '2h']),
            ...(random() < 0.2 ? { revoked: true } : {}),
            ...(scopeMember ? { scope: { type: 'Member' as const, memberRef: { name: scopeMember.metadata.name } } } : {}),
            ...(random() < 0.3 ? { grantee: { type: 'Agents' as const, agents: ['agent@vendor.example'] } } : {}),
          },
        }),
      );
    }
  }
  return out;
}
