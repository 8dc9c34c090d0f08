// `npm run generate`: writes the CRDs, the operator's RBAC and the chart's
// copies of both from src/model and src/crd, then the plain workload manifests
// from the chart (when the pinned helm is present). test/crds.test.ts and
// test/helm.test.ts fail when any of these files is stale.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPLOY_WORKLOAD_FILE, findHelm, renderDeployWorkload } from '../src/crd/deploy-manifests.js';
import { generatedFiles, GENERATED_ONLY_DIRECTORIES } from '../src/crd/files.js';
import { errorMessage } from '../src/util/errors.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function write(path: string, content: string): void {
  const file = join(root, path);
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === content) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  process.stdout.write(`wrote ${path}\n`);
}

function main(): void {
  const files = generatedFiles();
  for (const file of files) write(file.path, file.content);

  // A CRD file for a kind that no longer exists would still be applied: remove it.
  const wanted = new Set(files.map((f) => f.path));
  for (const directory of GENERATED_ONLY_DIRECTORIES) {
    for (const name of readdirSync(join(root, directory))) {
      const path = `${directory}/${name}`;
      if (name.endsWith('.yaml') && !wanted.has(path)) {
        rmSync(join(root, path));
        process.stdout.write(`removed stale ${path}\n`);
      }
    }
  }

  const helm = findHelm(root);
  if (helm === undefined) {
    process.stderr.write(`skipped ${DEPLOY_WORKLOAD_FILE}: helm is not installed; run scripts/fetch-tools.sh and generate again\n`);
  } else {
    write(DEPLOY_WORKLOAD_FILE, renderDeployWorkload(helm, root));
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`generate: ${errorMessage(err)}\n`);
  process.exitCode = 1;
}
