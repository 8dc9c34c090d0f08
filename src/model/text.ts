// One way to compare what people type: emails and names are normalised
// (NFKC, then lower case, spaces trimmed and collapsed) before any comparison,
// everywhere, and text that mixes Latin with lookalike scripts is caught, so
// "Аdmin" (Cyrillic А) is not a new role name and a Kelvin sign K is not a
// different email.

/** Printable ASCII without capitals or spaces: already its own comparison key (NFKC leaves ASCII alone). */
const ALREADY_NORMAL = /^[\x21-\x40\x5b-\x7e]*$/;

/** The comparison key of an email: NFKC, trimmed, lower case. */
export function normalizeEmail(email: string): string {
  // Nearly every email is already its key; the decision API asks for one on every check.
  if (ALREADY_NORMAL.test(email)) return email;
  return email.normalize('NFKC').trim().toLowerCase();
}

/** The comparison key of a name: NFKC, spaces trimmed and collapsed, lower case. */
export function normalizeName(name: string): string {
  return name.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

const LATIN = /\p{Script=Latin}/u;
/** Scripts with letters that pass for Latin ones (а, е, о, р, с, х; ο, ν, ρ …). */
const LOOKALIKE = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;

/** Whether `text` mixes Latin letters with letters of a script that has Latin lookalikes. */
export function mixesLookalikeScripts(text: string): boolean {
  const normalized = text.normalize('NFKC');
  return LATIN.test(normalized) && LOOKALIKE.test(normalized);
}

/** Whether `text` has characters NFKC replaces (a Kelvin sign, fullwidth letters, decomposed accents). */
export function hasCompatibilityCharacters(text: string): boolean {
  return text.normalize('NFKC') !== text;
}

/**
 * Whether `name` is `reserved` written with lookalike letters: each non-Latin
 * letter may stand for any letter, the rest must match.
 */
export function looksLike(name: string, reserved: string): boolean {
  const candidate = [...normalizeName(name)];
  const target = [...reserved];
  if (candidate.length !== target.length || !mixesLookalikeScripts(name)) return false;
  return candidate.every((ch, i) => ch === target[i] || LOOKALIKE.test(ch));
}
