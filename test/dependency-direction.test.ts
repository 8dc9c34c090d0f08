// Dependencies point one way: model <- rules <- reconcile <- store / kube /
// http / sync / app ... <- cli. The lower layers are pure; a file in one may
// import only from its own layer, the layers below it and src/util. Imports
// are read with TypeScript's own pre-processor (static, dynamic, re-exports,
// `import type` alike), so a type-only import upwards fails too.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Rank of each lower layer; every other top-level folder of src/ sits above them all. */
const LAYERS: Record<string, number> = { util: -1, model: 0, rules: 1, reconcile: 2 };
const ABOVE = 3;

const rank = (folder: string) => LAYERS[folder] ?? ABOVE;

interface SourceFile {
  /** Relative to src/, with `/`. */
  path: string;
  text: string;
}

/** Imports that run upwards: `from -> to` (paths relative to src/). */
function upwardImports(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    const folder = file.path.split('/')[0] as string;
    const own = rank(folder);
    if (own >= ABOVE) continue;
    for (const { fileName } of ts.preProcessFile(file.text, true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = relative(SRC, resolve(SRC, dirname(file.path), fileName)).split(sep).join('/');
      const targetFolder = target.split('/')[0] as string;
      // A unit test may use the shared test helpers (seeded generators, builders); they ship nowhere.
      if (file.path.endsWith('.test.ts') && target.startsWith('../test/support/')) continue;
      if (target.startsWith('..') || rank(targetFolder) > own) out.push(`${file.path} -> ${target}`);
    }
  }
  return out;
}

function sourceFiles(dir: string): SourceFile[] {
  const out: SourceFile[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts')) out.push({ path: relative(SRC, full).split(sep).join('/'), text: readFileSync(full, 'utf8') });
  }
  return out;
}

describe('dependency direction', () => {
  it.each([
    { name: 'reconcile importing the store', path: 'reconcile/sync.ts', text: "import { applyPlan } from '../store/apply.js';", upward: ['reconcile/sync.ts -> store/apply.js'] },
    { name: 'a type-only import from kube', path: 'rules/x.ts', text: "import type { Cache } from '../kube/cache.js';", upward: ['rules/x.ts -> kube/cache.js'] },
    { name: 'a re-export from the sync', path: 'reconcile/index.ts', text: "export { syncToStore } from '../sync/sync.js';", upward: ['reconcile/index.ts -> sync/sync.js'] },
    { name: 'a dynamic import of the CLI', path: 'model/y.ts', text: "const m = await import('../cli/main.js');", upward: ['model/y.ts -> cli/main.js'] },
    { name: 'model importing rules', path: 'model/z.ts', text: "import { check } from '../rules/index.js';", upward: ['model/z.ts -> rules/index.js'] },
    { name: 'a nested planner importing http', path: 'reconcile/planners/a.ts', text: "import { x } from '../../http/server.js';", upward: ['reconcile/planners/a.ts -> http/server.js'] },
    { name: 'reconcile importing model, rules, util and packages', path: 'reconcile/planners/b.ts', text: "import { a } from '../../model/kinds.js';\nimport { b } from '../../rules/types.js';\nimport { c } from '../../util/clock.js';\nimport { d } from 'kysely';\nimport { e } from './context.js';", upward: [] },
    { name: 'a unit test using the test helpers', path: 'rules/x.test.ts', text: "import { seededRandom } from '../../test/support/random.js';", upward: [] },
    { name: 'a source file using the test helpers', path: 'rules/x.ts', text: "import { seededRandom } from '../../test/support/random.js';", upward: ['rules/x.ts -> ../test/support/random.js'] },
    { name: 'the store importing reconcile (downwards)', path: 'store/observed.ts', text: "import { roleKey } from '../reconcile/records.js';", upward: [] },
  ])('$name', ({ path, text, upward }) => {
    expect(upwardImports([{ path, text }])).toEqual(upward);
  });

  it('holds for every file under src/', () => {
    const files = sourceFiles(SRC);
    expect(files.some((f) => f.path.startsWith('reconcile/'))).toBe(true);
    expect(upwardImports(files)).toEqual([]);
  });
});
