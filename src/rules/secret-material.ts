// No private key belongs in a declaration: Gatehouse stores what is declared,
// prints it (get -o json) and audits it. A PEM private key block anywhere in
// the spec or the annotations is refused, whatever field it was pasted into.
import type { GatehouseObject, ObjectRef } from '../model/kinds.js';
import type { Violation } from './types.js';

export const PRIVATE_KEY_MATERIAL = 'PrivateKeyMaterial';

const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;

function walk(value: unknown, path: string, out: string[]): void {
  if (typeof value === 'string') {
    if (PRIVATE_KEY_BLOCK.test(value)) out.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) walk(item, /^[A-Za-z_][\w]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, out);
  }
}

/** A violation per field holding a PEM private key block. */
export function privateKeyViolations(object: GatehouseObject, ref: ObjectRef): Violation[] {
  const paths: string[] = [];
  walk((object as { spec?: unknown }).spec, 'spec', paths);
  walk(object.metadata?.annotations, 'metadata.annotations', paths);
  return paths.map((field) => ({
    ruleId: PRIVATE_KEY_MATERIAL,
    severity: 'error' as const,
    object: ref,
    field,
    message: `${field} holds a private key (a -----BEGIN … PRIVATE KEY----- block); Gatehouse stores, prints and audits declarations, so remove it and rotate that key. For SSO, paste only the IdP's certificate`,
  }));
}
