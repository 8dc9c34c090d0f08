// Loaded sources + the rules engine = a validation report with file positions.
// Pure: `gatehouse validate` prints it; `plan` and `apply` can refuse on it.
import { checkObjectsByObject, type DeclaredContext } from '../rules/check.js';
import type { Severity, Violation } from '../rules/types.js';
import type { LoadResult } from './load.js';

/** One line of the report; its shape is what `validate --output json` prints. */
export interface ReportEntry {
  file: string | null;
  /** 1-based; 0 when there is no position (a path that does not exist). */
  line: number;
  column: number;
  severity: Severity;
  ruleId: string;
  /** The object's identity; null for problems with the file itself (YAML syntax). */
  kind: string | null;
  namespace: string | null;
  name: string | null;
  /** Field path (spec.permissions[2]); empty for the whole object or document. */
  field: string;
  message: string;
}

export interface ValidationReport {
  valid: boolean;
  summary: { errors: number; warnings: number; objects: number; files: number; ignoredDocuments: number };
  violations: ReportEntry[];
}

/**
 * Violations found outside validateLoaded (the engine's check against the
 * identity store) as report entries, at the files and positions of `load`.
 */
export function reportEntriesOf(load: LoadResult, violations: readonly Violation[]): ReportEntry[] {
  // Most applies have nothing to report: no index of every object for that.
  if (violations.length === 0) return [];
  const byRef = new Map(load.objects.map((source) => [refKeyOf(source.object), source]));
  return violations.map((violation) =>
    entryAt(byRef.get(`${violation.object.kind}/${violation.object.namespace}/${violation.object.name}`), violation),
  );
}

function refKeyOf(object: { kind: string; metadata?: { namespace?: unknown; name?: unknown } }): string {
  const namespace = typeof object.metadata?.namespace === 'string' ? object.metadata.namespace : 'default';
  const name = typeof object.metadata?.name === 'string' ? object.metadata.name : '';
  return `${object.kind}/${namespace}/${name}`;
}

export function validateLoaded(load: LoadResult, ctx: DeclaredContext): ValidationReport {
  const byObject = checkObjectsByObject(
    load.objects.map((source) => source.object),
    ctx,
  );
  const entries: ReportEntry[] = [];
  byObject.forEach((violations, i) => {
    const source = load.objects[i];
    if (source === undefined) return;
    for (const violation of violations) entries.push(entryAt(source, violation));
  });
  return reportOf(load, entries);
}

/**
 * The report of violations found elsewhere (the engine's check against the
 * identity store, which `plan` and `apply` run), with the load's own problems.
 */
export function reportOfViolations(load: LoadResult, violations: readonly Violation[]): ValidationReport {
  return reportOf(load, reportEntriesOf(load, violations));
}

function entryAt(source: { file: string; position(field: string): { line: number; column: number } } | undefined, violation: Violation): ReportEntry {
  const { line, column } = source?.position(violation.field) ?? { line: 0, column: 0 };
  return {
    file: source?.file ?? null,
    line,
    column,
    severity: violation.severity,
    ruleId: violation.ruleId,
    kind: violation.object.kind,
    namespace: violation.object.namespace,
    name: violation.object.name,
    field: violation.field,
    message: violation.message,
  };
}

function reportOf(load: LoadResult, objectEntries: ReportEntry[]): ValidationReport {
  const entries: ReportEntry[] = load.problems.map((problem) => ({
    file: problem.file,
    line: problem.line,
    column: problem.column,
    severity: problem.severity ?? 'error',
    ruleId: problem.code,
    kind: null,
    namespace: null,
    name: null,
    field: problem.field ?? '',
    message: problem.message,
  }));
  entries.push(...objectEntries);
  const fileOrder = new Map(load.files.map((file, i) => [file, i]));
  const order = (file: string | null) => (file === null ? -1 : (fileOrder.get(file) ?? -1));
  // Array.prototype.sort is stable: entries at one position keep rule order.
  entries.sort((a, b) => order(a.file) - order(b.file) || a.line - b.line || a.column - b.column);
  const errors = entries.filter((e) => e.severity === 'error').length;
  return {
    valid: errors === 0,
    summary: {
      errors,
      warnings: entries.length - errors,
      objects: load.objects.length,
      files: load.files.length,
      ignoredDocuments: load.ignoredDocuments,
    },
    violations: entries,
  };
}
