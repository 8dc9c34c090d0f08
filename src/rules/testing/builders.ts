// Small builders for Gatehouse objects, for tests across the project. Each
// returns a valid object whose fields can be overridden; the defaults fit
// together (one namespace "acme", one Workspace "acme" that allows read-only
// support access), so a test changes only what it is about.
import { API_VERSION } from '../../model/common.js';
import type { ObjectMeta } from '../../model/common.js';
import type { GatehouseObject } from '../../model/kinds.js';
import type { Member, MemberSpec } from '../../model/member.js';
import type { Role, RoleSpec } from '../../model/role.js';
import type { SupportGrant, SupportGrantSpec } from '../../model/support-grant.js';
import type { Workspace, WorkspaceSpec } from '../../model/workspace.js';

export const TEST_NAMESPACE = 'acme';
export const TEST_WORKSPACE = 'acme';

/** Self-signed P-256 certificates with fixed validity, for SAML signing certificate rules. */
export const CERT_VALID_2025_TO_2035 = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBGjCBwaADAgECAgEBMAoGCCqGSM49BAMCMBUxEzARBgNVBAMTCnZhbGlkLnRl',
  'c3QwHhcNMjUwMTAxMDAwMDAwWhcNMzUwMTAxMDAwMDAwWjAVMRMwEQYDVQQDEwp2',
  'YWxpZC50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ03cPMHDVd3rZHf0',
  'fyZWz1xTISNDjTEXun5w/Oj9W9mp2dRhLc0OTAZZLFu2GwBan4qNWRezFFnm7Nxk',
  'b1EQp6MCMAAwCgYIKoZIzj0EAwIDSAAwRQIgIuflSDv/syAY95V0L231MXIuusT7',
  '3uqGxXsmx+p4uzUCIQCvgsmOAOgfjWhzl1joiUfZoxy4dAlCs1uIU+pkno7UiA==',
  '-----END CERTIFICATE-----',
].join('\n');
export const CERT_EXPIRED_2021 = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBHjCBxaADAgECAgEBMAoGCCqGSM49BAMCMBcxFTATBgNVBAMTDGV4cGlyZWQu',
  'dGVzdDAeFw0yMDAxMDEwMDAwMDBaFw0yMTAxMDEwMDAwMDBaMBcxFTATBgNVBAMT',
  'DGV4cGlyZWQudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKwsUQutgMZO',
  'wqU1EaNdBylGQHQ5KD9Jy5MrO37PIge+8AeB7I7wG4ENWUFC4urZrVYY6b8WVufs',
  'QxoOhxMyOcmjAjAAMAoGCCqGSM49BAMCA0gAMEUCIQCsQjxuno4wH2rIZ42JivPS',
  'y8s9flZAzQCsylpFe+qN2gIgB12Ldvcajg9egdVg/RS2+KM5XEn4XMC0OAmUJPR+',
  'gog=',
  '-----END CERTIFICATE-----',
].join('\n');
export const CERT_FROM_2030 = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBHDCBw6ADAgECAgEBMAoGCCqGSM49BAMCMBYxFDASBgNVBAMTC2Z1dHVyZS50',
  'ZXN0MB4XDTMwMDEwMTAwMDAwMFoXDTMxMDEwMTAwMDAwMFowFjEUMBIGA1UEAxML',
  'ZnV0dXJlLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATUiZ2Jy7fscq/7',
  'zU64is3Y2GT14RnIX2lQExaS8YU6QmA3z2INPLTWqX7znZuGN+k96sGtdl6Rm691',
  'uOm/NwGYowIwADAKBggqhkjOPQQDAgNIADBFAiEAvfpCVtUjhvS1+J6mq/XbkXyp',
  'xtS4Fkhc4jxRSd03gscCIG1IC42miJ+XU8Vb9rQJQIsusQDm7MVtGNabgtnZz5LE',
  '-----END CERTIFICATE-----',
].join('\n');

export interface Overrides<S> {
  name?: string;
  namespace?: string;
  /** Merged over the default metadata. */
  metadata?: Partial<ObjectMeta>;
  /** Merged over the default spec, one level deep; a key set to undefined removes the field. */
  spec?: Partial<S>;
  status?: unknown;
}

function meta(name: string, o: Overrides<unknown>): ObjectMeta {
  return { name: o.name ?? name, namespace: o.namespace ?? TEST_NAMESPACE, ...o.metadata };
}

function merge<S extends object>(base: S, overrides: Partial<S> | undefined): S {
  const out = { ...base, ...overrides } as Record<string, unknown>;
  for (const [key, value] of Object.entries(out)) if (value === undefined) delete out[key];
  return out as unknown as S;
}

function withStatus<T extends GatehouseObject>(object: T, status: unknown): T {
  return status === undefined ? object : ({ ...object, status } as T);
}

export function aWorkspace(o: Overrides<WorkspaceSpec> = {}): Workspace {
  const metadata = meta(TEST_WORKSPACE, o);
  const spec = merge<WorkspaceSpec>(
    {
      workspaceId: metadata.name,
      displayName: `Workspace ${metadata.name}`,
      twoFactor: 'Required',
      supportAccess: { allowed: true, maxDuration: '720h', allowReadWrite: false },
    },
    o.spec,
  );
  return withStatus({ apiVersion: API_VERSION, kind: 'Workspace', metadata, spec }, o.status);
}

export function aRole(o: Overrides<RoleSpec> = {}): Role {
  const metadata = meta('campaign-analyst', o);
  const spec = merge<RoleSpec>(
    {
      workspaceRef: { name: TEST_WORKSPACE },
      displayName: `Role ${metadata.name}`,
      permissions: ['view-dashboard', 'create-segment'],
    },
    o.spec,
  );
  return withStatus({ apiVersion: API_VERSION, kind: 'Role', metadata, spec }, o.status);
}

export function aMember(o: Overrides<MemberSpec> = {}): Member {
  const metadata = meta('alice', o);
  const spec = merge<MemberSpec>(
    {
      workspaceRef: { name: TEST_WORKSPACE },
      email: `${metadata.name}@acme.example`,
      displayName: `Person ${metadata.name}`,
      role: 'viewer',
    },
    o.spec,
  );
  return withStatus({ apiVersion: API_VERSION, kind: 'Member', metadata, spec }, o.status);
}

export function aSupportGrant(o: Overrides<SupportGrantSpec> = {}): SupportGrant {
  const metadata = meta('ticket-1234', o);
  const spec = merge<SupportGrantSpec>(
    {
      workspaceRef: { name: TEST_WORKSPACE },
      grantee: { type: 'SupportTeam' },
      scope: { type: 'Workspace' },
      accessLevel: 'ReadOnly',
      duration: '168h',
      reason: 'Campaign report totals differ from the export; support needs to look at the data.',
    },
    o.spec,
  );
  return withStatus({ apiVersion: API_VERSION, kind: 'SupportGrant', metadata, spec }, o.status);
}

/** A valid admin Member (default role admin). */
export function anAdmin(o: Overrides<MemberSpec> = {}): Member {
  return aMember({ name: 'root', ...o, spec: { role: 'admin', ...o.spec } });
}
