// What a denial may say. The webhook answers whoever can reach it or send a
// change, and the rules' messages name other objects (the Member that already
// has this email, the admins already declared). A requester learns nothing
// through a denial they did not send themselves: names and emails of other
// objects in the namespace that do not appear in the request are replaced.
import { KIND_NAMES, type ObjectRef } from '../../model/kinds.js';
import type { ObjectIndex } from '../../rules/types.js';

/** Names shorter than this are left alone: replacing them would mangle ordinary words. */
const MIN_NAME_LENGTH = 3;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function emailsOf(object: unknown): string[] {
  const spec = (object as { spec?: { email?: unknown; grantee?: { agents?: unknown } } }).spec;
  const out: string[] = [];
  if (typeof spec?.email === 'string') out.push(spec.email);
  const agents = spec?.grantee?.agents;
  if (Array.isArray(agents)) for (const a of agents) if (typeof a === 'string') out.push(a);
  return out;
}

/**
 * A function that removes from a message every name and email of another
 * object in `subject`'s namespace that the request (`sent`) does not contain.
 */
export function foreignScrubber(index: ObjectIndex, subject: ObjectRef, sent: readonly unknown[]): (text: string) => string {
  const sentText = JSON.stringify(sent).toLowerCase();
  const replacements: Array<[RegExp, string]> = [];
  for (const kind of KIND_NAMES) {
    let objects: readonly unknown[];
    try {
      objects = index.list(kind, subject.namespace);
    } catch {
      continue;
    }
    for (const object of objects) {
      const name = (object as { metadata?: { name?: unknown } }).metadata?.name;
      if (typeof name === 'string' && !(kind === subject.kind && name === subject.name) && name.length >= MIN_NAME_LENGTH && !sentText.includes(`"${name.toLowerCase()}"`)) {
        replacements.push([new RegExp(`\\b${kind} ${escape(subject.namespace)}/${escape(name)}(?![\\w.-])`, 'g'), `another ${kind}`]);
        replacements.push([new RegExp(`(?<![\\w.@-])${escape(name)}(?![\\w.@-])`, 'g'), `another ${kind}`]);
      }
      for (const email of emailsOf(object)) {
        if (!sentText.includes(email.toLowerCase())) replacements.push([new RegExp(escape(email), 'gi'), "another member's email"]);
      }
    }
  }
  // Qualified references first, so "Member acme/alice" becomes "another Member", not "Member acme/another Member".
  replacements.sort((a, b) => Number(b[0].source.includes(' ')) - Number(a[0].source.includes(' ')));
  return (text) => replacements.reduce((out, [pattern, by]) => out.replace(pattern, by), text);
}
