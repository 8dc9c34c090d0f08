// Label selectors (equality, inequality, existence, set-based in/notin) and
// the field selectors custom resources support: metadata.name, metadata.namespace.

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

interface ObjectWithMeta {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}

export type Selector = (obj: ObjectWithMeta) => boolean;

const matchAll: Selector = () => true;

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '') terms.push(current.trim());
  return terms.filter((t) => t !== '');
}

export function parseLabelSelector(selector: string | undefined): Selector {
  if (selector === undefined || selector.trim() === '') return matchAll;
  const checks = splitTerms(selector).map((term): Selector => {
    const setMatch = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (setMatch) {
      const [, key, op, list] = setMatch as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((v) => v.trim()));
      return (obj) => {
        const value = obj.metadata?.labels?.[key];
        return op === 'in' ? value !== undefined && values.has(value) : value === undefined || !values.has(value);
      };
    }
    const inequality = /^([^\s!=]+)\s*!=\s*(\S*)$/.exec(term);
    if (inequality) {
      const [, key, value] = inequality as unknown as [string, string, string];
      return (obj) => obj.metadata?.labels?.[key] !== value;
    }
    const equality = /^([^\s!=]+)\s*==?\s*(\S*)$/.exec(term);
    if (equality) {
      const [, key, value] = equality as unknown as [string, string, string];
      return (obj) => obj.metadata?.labels?.[key] === value;
    }
    const notExists = /^!([^\s!=]+)$/.exec(term);
    if (notExists) {
      const key = notExists[1] as string;
      return (obj) => obj.metadata?.labels?.[key] === undefined;
    }
    if (/^[^\s!=(),]+$/.test(term)) return (obj) => obj.metadata?.labels?.[term] !== undefined;
    throw new SelectorError(`unable to parse requirement: "${term}"`);
  });
  return (obj) => checks.every((check) => check(obj));
}

const SUPPORTED_FIELDS: Record<string, (obj: ObjectWithMeta) => string | undefined> = {
  'metadata.name': (obj) => obj.metadata?.name,
  'metadata.namespace': (obj) => obj.metadata?.namespace ?? '',
};

export function parseFieldSelector(selector: string | undefined): Selector {
  if (selector === undefined || selector.trim() === '') return matchAll;
  const checks = splitTerms(selector).map((term): Selector => {
    const match = /^([^!=]+?)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!match) throw new SelectorError(`invalid field selector "${term}"`);
    const [, field, op, value] = match as unknown as [string, string, string, string];
    const read = SUPPORTED_FIELDS[field];
    if (read === undefined) throw new SelectorError(`field label not supported: ${field}`);
    return op === '!=' ? (obj) => read(obj) !== value : (obj) => read(obj) === value;
  });
  return (obj) => checks.every((check) => check(obj));
}
