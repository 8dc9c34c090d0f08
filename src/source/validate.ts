// Loaded sources + the rules engine = a validation report with file positions.
// Pure: `gatehouse validate` prints it; `plan` and `apply` can refuse on it.
import { checkObjectsByObject, type DeclaredContext } from '../rules/check.js';
import type { Severity } from '../rules/types.js';
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

export function validateLoaded(load: LoadResult, ctx: DeclaredContext): ValidationReport {
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
  const byObject = checkObjectsByObject(
    load.objects.map((source) => source.object),
    ctx,
  );
  byObject.forEach((violations, i) => {
    const source = load.objects[i];
    if (source === undefined) return;
    for (const violation of violations) {
      const { line, column } = source.position(violation.field);
      entries.push({
        file: source.file,
        line,
        column,
        severity: violation.severity,
        ruleId: violation.ruleId,
        kind: violation.object.kind,
        namespace: violation.object.namespace,
        name: violation.object.name,
        field: violation.field,
        message: violation.message,
      });
    }
  });
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
