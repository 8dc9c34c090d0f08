// Writes docs/openapi.json from the decision API's schemas (a test fails when it is stale):
//   npx tsx scripts/generate-openapi.ts
import { writeFileSync } from 'node:fs';
import { openApiDocument } from '../src/http/api.js';
import { API_VERSION } from '../src/http/server.js';

writeFileSync(new URL('../docs/openapi.json', import.meta.url), `${JSON.stringify(openApiDocument(API_VERSION), null, 2)}\n`);
