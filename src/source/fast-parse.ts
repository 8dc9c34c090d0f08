// The fast way to read a source file (docs/adr/0015-two-yaml-parsers.md): js-yaml
// builds the plain values without a syntax tree or source positions. It judges
// only files it reads exactly as the `yaml` library would; for anything else
// (a syntax error, a duplicate key, an alias, an anchor, a tag, a directive, a
// merge key, a word YAML 1.1 reads as a boolean) it answers undefined and the
// caller reads the file the slow way, so messages and positions stay the same.
import { constructFromEvents, CORE_SCHEMA, EVENT_ID, parseEvents, SCALAR_STYLE, type Event } from 'js-yaml';

/** Longest plain word that may need the slow way: `<<` and the YAML 1.1 booleans (y, yes, on, no, off…) are at most 3 characters. */
const LONGEST_SPECIAL_WORD = 3;

/**
 * The documents of a file as plain values, or undefined when the file must be
 * read with the `yaml` library. `isSpecialWord` says whether a plain (unquoted)
 * scalar's text needs that library: it is given words of up to 3 characters.
 */
export function fastDocuments(text: string, isSpecialWord: (word: string) => boolean): unknown[] | undefined {
  let events: Event[];
  try {
    events = parseEvents(text, {});
  } catch {
    return undefined;
  }
  for (const event of events) {
    switch (event.type) {
      case EVENT_ID.ALIAS:
        // Aliases are expanded by the slow way, which limits how many (an alias bomb).
        return undefined;
      case EVENT_ID.DOCUMENT:
        // %YAML 1.1 or %TAG change how the rest reads.
        if (event.directives.length > 0) return undefined;
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        if (event.anchorStart !== -1 || event.tagStart !== -1) return undefined;
        break;
      case EVENT_ID.SCALAR:
        if (event.anchorStart !== -1 || event.tagStart !== -1) return undefined;
        if (event.style === SCALAR_STYLE.PLAIN && event.valueEnd - event.valueStart <= LONGEST_SPECIAL_WORD && isSpecialWord(text.slice(event.valueStart, event.valueEnd))) {
          return undefined;
        }
        break;
      default:
        break;
    }
  }
  try {
    // CORE_SCHEMA is YAML 1.2's core schema, as the `yaml` library reads by default: no timestamps, no binary. Duplicate keys throw.
    return constructFromEvents(events, { source: text, schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
}
