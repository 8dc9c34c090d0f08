// The string formats the schemas use, as ajv reads them: ajv-formats' set, with
// Gatehouse's one reader of instants for date-time (the rules, the planner and
// --at use the same one). A module of its own so that the validators compiled
// at build time (scripts/build.mjs) can require the very same functions.
import { createRequire } from 'node:module';
import type { Format } from 'ajv';
import { parseInstant } from './time.js';

const require = createRequire(import.meta.url);
const { fullFormats } = require('ajv-formats/dist/formats') as { fullFormats: Record<string, Format> };

export const schemaFormats: Readonly<Record<string, Format>> = {
  ...fullFormats,
  'date-time': { type: 'string', validate: (text: string) => parseInstant(text) !== undefined },
};
