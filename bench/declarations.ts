// The declarations every scale benchmark uses: W Workspaces × M Members, ten
// Workspaces to a namespace, one admin per Workspace and viewers for the rest.
// Built once here so the operator benches (fake and real API server) and the
// CLI bench measure the same objects, as objects or as a folder of YAML.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GatehouseObject } from '../src/model/index.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
export const WORKSPACES_PER_NAMESPACE = 10;

export interface BenchSize {
  workspaces: number;
  membersPerWorkspace: number;
}

/** GATEHOUSE_BENCH_WORKSPACES and GATEHOUSE_BENCH_MEMBERS (per Workspace) override `defaults`. */
export function sizeFromEnv(defaults: BenchSize): BenchSize {
  const read = (name: string, fallback: number) => {
    const text = process.env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${text} is not a whole number of at least 1`);
    return value;
  };
  return { workspaces: read('GATEHOUSE_BENCH_WORKSPACES', defaults.workspaces), membersPerWorkspace: read('GATEHOUSE_BENCH_MEMBERS', defaults.membersPerWorkspace) };
}

export function namespaceOf(w: number): string {
  return `bench-${Math.floor(w / WORKSPACES_PER_NAMESPACE)}`;
}

export function workspaceName(w: number): string {
  return `ws-${String(w % WORKSPACES_PER_NAMESPACE).padStart(2, '0')}`;
}

export function memberName(w: number, m: number): string {
  return `${workspaceName(w)}-m${String(m).padStart(4, '0')}`;
}

/** Workspace w followed by its Members, for every w. */
export function buildDeclarations(size: BenchSize): GatehouseObject[] {
  const objects: GatehouseObject[] = [];
  for (let w = 0; w < size.workspaces; w += 1) {
    const namespace = namespaceOf(w);
    const ws = workspaceName(w);
    objects.push({
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: ws, namespace },
      spec: { workspaceId: `${namespace}-${ws}`, displayName: `Bench ${namespace} ${ws}` },
    });
    for (let m = 0; m < size.membersPerWorkspace; m += 1) {
      const name = memberName(w, m);
      objects.push({
        apiVersion: API_VERSION,
        kind: 'Member',
        metadata: { name, namespace },
        spec: { workspaceRef: { name: ws }, email: `${name}@${namespace}.example.com`, displayName: `Member ${name}`, role: m === 0 ? 'admin' : 'viewer' },
      });
    }
  }
  return objects;
}

export function countKinds(objects: readonly GatehouseObject[]): { workspaces: number; members: number } {
  const members = objects.filter((o) => o.kind === 'Member').length;
  return { workspaces: objects.length - members, members };
}

/** Writes the objects as a folder of YAML, one file per Workspace with its Members, as a repository would hold them. */
export function writeDeclarationFiles(objects: readonly GatehouseObject[], dir: string): number {
  mkdirSync(dir, { recursive: true });
  let files = 0;
  let current: string[] = [];
  let file = '';
  const flush = () => {
    if (file !== '') writeFileSync(join(dir, file), current.join('---\n'));
    current = [];
  };
  for (const object of objects) {
    if (object.kind === 'Workspace') {
      flush();
      file = `${object.metadata.namespace}-${object.metadata.name}.yaml`;
      files += 1;
    }
    current.push(stringify(object));
  }
  flush();
  return files;
}
