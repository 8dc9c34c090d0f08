// The rules engine: pure functions from declared objects to violations. The
// same code runs in `gatehouse validate`, the admission webhook and the
// reconciler. Rule ids and what each checks are listed in docs/rules.md.
export { RuleIds, RULES, ruleInfo, type RuleId, type RuleInfo } from './catalog.js';
export { checkDeletion, checkObject, checkObjects, checkObjectsByObject, hasErrors, type DeclaredContext } from './check.js';
export { createObjectIndex, SnapshotIndex, safeRefOf } from './object-index.js';
export { LiveIndex } from './live-index.js';
export { blockListOf, parseCidr, type Cidr, type CidrParseResult } from './network.js';
export type { ObjectIndex, Operation, RuleContext, Severity, Violation, WorkspaceScopedKind } from './types.js';
