// What a rule function gets: the world, the instant, the operation, the
// object's previous version and a way to report.
import { formatRef, type GatehouseObject, type ObjectRef } from '../model/kinds.js';
import type { Profile } from '../model/profile.js';
import type { RuleId } from './catalog.js';
import type { Operation, RecordedObject, Severity, Violation } from './types.js';
import type { RuleWorld } from './world.js';

export interface Check<T extends GatehouseObject = GatehouseObject> {
  readonly object: T;
  readonly ref: ObjectRef;
  readonly world: RuleWorld;
  readonly at: Date;
  readonly profile: Profile;
  readonly operation: Operation | undefined;
  /** The version before this UPDATE, when known and readable. */
  readonly previous: T | undefined;
  /** What the identity store recorded for this object, when checked against a store. */
  readonly recorded: RecordedObject | undefined;
  report(ruleId: RuleId, severity: Severity, field: string, message: string): void;
}

export function makeCheck<T extends GatehouseObject>(
  object: T,
  ref: ObjectRef,
  world: RuleWorld,
  operation: Operation | undefined,
  previous: T | undefined,
  out: Violation[],
): Check<T> {
  return {
    object,
    ref,
    world,
    at: world.at,
    profile: world.profile,
    operation,
    previous,
    recorded: world.recordOf(object),
    report(ruleId, severity, field, message) {
      out.push({ ruleId, severity, object: ref, field, message });
    },
  };
}

/** "Workspace acme/acme-prod", for messages. */
export function describe(object: GatehouseObject | ObjectRef): string {
  if ('metadata' in object) {
    const name = typeof object.metadata?.name === 'string' ? object.metadata.name : '';
    const namespace = typeof object.metadata?.namespace === 'string' ? object.metadata.namespace : 'default';
    return formatRef({ kind: object.kind, namespace, name });
  }
  return formatRef(object);
}

/** Up to `max` quoted names, then "and N more". */
export function listNames(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
