// The Argo CD health check (examples/gitops/argocd/health.lua) run in a real Lua VM (fengari,
// Lua 5.3 in JavaScript; Argo CD runs gopher-lua, Lua 5.1: the script uses only what both have)
// against statuses the operator writes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fengari from 'fengari';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const dir = fileURLToPath(new URL('../examples/gitops/argocd/', import.meta.url));
const script = readFileSync(`${dir}health.lua`, 'utf8');

/** A JSON value as a Lua table constructor (Argo CD hands the object to the script as such a table). */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([key, item]) => `[${JSON.stringify(key)}] = ${toLua(item)}`)
    .join(', ')}}`;
}

/** Runs the health script with `obj` and returns what it returns. */
function health(obj: unknown): { status: string; message: string } {
  const { lua, lauxlib, lualib, to_luastring } = fengari;
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const chunk = `local obj = ${toLua(obj)}\nlocal hs = (function()\n${script}\nend)()\nreturn hs.status, hs.message`;
  if (lauxlib.luaL_loadstring(L, to_luastring(chunk)) !== lua.LUA_OK || lua.lua_pcall(L, 0, 2, 0) !== lua.LUA_OK) {
    throw new Error(`Lua error: ${lua.lua_tojsstring(L, -1)}`);
  }
  return { status: lua.lua_tojsstring(L, -2), message: lua.lua_tojsstring(L, -1) };
}

const object = (generation: number, status?: Record<string, unknown>) => ({
  apiVersion: 'gatehouse.dev/v1alpha1',
  kind: 'Member',
  metadata: { name: 'ada', namespace: 'northwind', generation },
  ...(status === undefined ? {} : { status }),
});
const ready = (status: 'True' | 'False', reason: string, message: string, observedGeneration = 2) => ({
  type: 'Ready',
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: '2026-11-30T12:00:00Z',
});

describe('Argo CD health check', () => {
  it.each<[string, unknown, string, string]>([
    ['no status yet', object(1), 'Progressing', 'Waiting for the Gatehouse operator'],
    [
      'Ready for the current generation (Invited)',
      object(2, { phase: 'Invited', observedGeneration: 2, conditions: [ready('True', 'Invited', 'invitation sent to ada@northwind.example')] }),
      'Healthy',
      'invitation sent to ada@northwind.example',
    ],
    [
      'Ready, but for an older generation',
      object(3, { phase: 'Active', observedGeneration: 2, conditions: [ready('True', 'Activated', 'accepted')] }),
      'Progressing',
      'Waiting for the Gatehouse operator to reconcile generation 3',
    ],
    [
      'held back by a rule',
      object(2, { phase: 'Failed', observedGeneration: 2, conditions: [ready('False', 'RoleNotFound', 'spec.role: no Role "analyst"; declare it')] }),
      'Degraded',
      'spec.role: no Role "analyst"; declare it',
    ],
    [
      'waiting for its Workspace',
      object(2, { phase: 'Pending', observedGeneration: 2, conditions: [ready('False', 'DependencyNotReady', 'Workspace northwind is not Ready')] }),
      'Progressing',
      'Workspace northwind is not Ready',
    ],
    [
      'temporary access ended',
      object(2, { phase: 'Expired', observedGeneration: 2, conditions: [ready('False', 'Expired', 'temporary access ended at 2026-11-01T00:00:00Z')] }),
      'Suspended',
      'temporary access ended at 2026-11-01T00:00:00Z',
    ],
    [
      'a SupportGrant revoked',
      { ...object(2, { phase: 'Revoked', observedGeneration: 2, conditions: [ready('False', 'Revoked', 'support access revoked')] }), kind: 'SupportGrant' },
      'Suspended',
      'support access revoked',
    ],
    [
      'being removed',
      object(2, { phase: 'Terminating', observedGeneration: 2, conditions: [ready('False', 'RoleInUse', 'Role analyst is still assigned to 2 Members')] }),
      'Progressing',
      'Role analyst is still assigned to 2 Members',
    ],
    [
      'a Workspace in effect',
      { ...object(1, { phase: 'Ready', observedGeneration: 1, conditions: [ready('True', 'Synced', 'in effect in the identity store', 1)] }), kind: 'Workspace' },
      'Healthy',
      'in effect in the identity store',
    ],
  ])('%s: %s', (_name, obj, status, message) => {
    expect(health(obj)).toEqual({ status, message });
  });

  it('is installed for every kind by argocd-cm.yaml, as the very script tested here', () => {
    const configMap = parse(readFileSync(`${dir}argocd-cm.yaml`, 'utf8')) as { data: Record<string, string> };
    const keys = ['Workspace', 'Role', 'Member', 'SupportGrant'].map((kind) => `resource.customizations.health.gatehouse.dev_${kind}`);
    expect(Object.keys(configMap.data).sort()).toEqual([...keys].sort());
    for (const key of keys) expect(configMap.data[key]).toBe(script);
  });
});
