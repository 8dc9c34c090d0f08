// gatehouse validate at scale: 10,000 Members in 100 Workspaces (one file per
// workspace). Measures, in one run, (a) reading and parsing the YAML alone and
// (b) the whole validation (load + checkObjects); goal: (b) within 3x of (a).
// Also (c): checkObject for one Member against all of them, as at admission.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Member } from '../src/model/member.js';
import { getDefaultProfile } from '../src/model/profile.js';
import { checkObject, createObjectIndex } from '../src/rules/index.js';
import { loadSources } from '../src/source/load.js';
import { validateLoaded } from '../src/source/validate.js';
import { percentile, peakRssMiB, report, timeIt } from './report.js';

const WORKSPACES = 100;
const MEMBERS_PER_WORKSPACE = 100;
const ROUNDS = 5;
const AT = new Date('2026-12-01T00:00:00Z');
const ROLES = ['viewer', 'editor', 'manager', 'campaign-analyst', 'data-steward'];

function workspaceFile(w: number): string {
  const ns = `tenant-${w}`;
  const docs = [
    `apiVersion: gatehouse.dev/v1alpha1
kind: Workspace
metadata:
  name: main
  namespace: ${ns}
spec:
  workspaceId: tenant-${w}
  displayName: Tenant ${w}
  twoFactor: Required
  ipAllowlist: [203.0.113.0/24, 2001:db8:${w.toString(16)}::/48]
  maxTemporaryAccess: 8760h
  admins: {min: 1, max: 1}
  supportAccess: {allowed: true, maxDuration: 720h, allowReadWrite: false}
`,
    ...['campaign-analyst', 'data-steward'].map(
      (role) => `apiVersion: gatehouse.dev/v1alpha1
kind: Role
metadata:
  name: ${role}
  namespace: ${ns}
spec:
  workspaceRef:
    name: main
  displayName: ${role}
  permissions: [view-dashboard, create-segment, campaign-maker]
`,
    ),
  ];
  for (let m = 0; m < MEMBERS_PER_WORKSPACE; m += 1) {
    const role = m === 0 ? 'admin' : ROLES[m % ROLES.length];
    const temporary = m % 10 === 9 ? '  expiresAt: "2027-06-30T00:00:00Z"\n' : '';
    docs.push(`apiVersion: gatehouse.dev/v1alpha1
kind: Member
metadata:
  name: member-${m}
  namespace: ${ns}
spec:
  workspaceRef:
    name: main
  email: member-${m}@tenant-${w}.example
  displayName: Member ${m} of Tenant ${w}
  role: ${role}
  loginType: Local
${temporary}`);
  }
  return docs.join('---\n');
}

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-validate-'));
try {
  const files: string[] = [];
  let bytes = 0;
  for (let w = 0; w < WORKSPACES; w += 1) {
    const file = join(dir, `tenant-${String(w).padStart(3, '0')}.yaml`);
    const text = workspaceFile(w);
    bytes += text.length;
    await writeFile(file, text);
    files.push(file);
  }
  const profile = getDefaultProfile();

  const parseOnly = async () => {
    let documents = 0;
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      documents += parseAllDocuments(text, { lineCounter: new LineCounter() }).length;
    }
    return documents;
  };
  const loadOnly = () => loadSources([dir]);
  const fullValidation = async () => validateLoaded(await loadSources([dir]), { at: AT, profile });

  // Warm up the JIT and the file cache, and check the workload is what it claims.
  const warm = await fullValidation();
  const peakAfterOneValidation = peakRssMiB();
  if (warm.summary.errors !== 0 || warm.summary.warnings !== 0) {
    throw new Error(`benchmark input is not valid: ${JSON.stringify(warm.violations.slice(0, 3))}`);
  }
  await parseOnly();

  const parseTimes: number[] = [];
  const loadTimes: number[] = [];
  const fullTimes: number[] = [];
  let documents = 0;
  let objects = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const parsed = await timeIt(parseOnly);
    parseTimes.push(parsed.ms);
    documents = parsed.value;
    loadTimes.push((await timeIt(loadOnly)).ms);
    const full = await timeIt(fullValidation);
    fullTimes.push(full.ms);
    objects = full.value.summary.objects;
  }
  // (c) One object at a time against the whole set, as admission does it.
  const loaded = await loadSources([dir]);
  const index = createObjectIndex(loaded.objects.map((o) => o.object));
  const members = loaded.objects.map((o) => o.object).filter((o): o is Member => o.kind === 'Member');
  const singleTimes: number[] = [];
  for (let i = 0; i < 2000; i += 1) {
    const stored = members[(i * 7919) % members.length] as Member;
    const changed: Member = { ...stored, spec: { ...stored.spec, phone: '+4930123456' } };
    const started = performance.now();
    const violations = checkObject(changed, { at: AT, profile, index, operation: 'UPDATE', oldObject: stored });
    singleTimes.push(performance.now() - started);
    if (violations.length > 0) throw new Error(`unexpected violations: ${JSON.stringify(violations)}`);
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const parseMs = median(parseTimes);
  const loadMs = median(loadTimes);
  const fullMs = median(fullTimes);
  report([
    ['workload', `${WORKSPACES} workspaces x ${MEMBERS_PER_WORKSPACE} members, ${objects} objects, ${documents} documents, ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${files.length} files`],
    ['rounds (median reported)', ROUNDS],
    ['(a) read + parse YAML only, ms', parseMs],
    ['    load (read, parse, to objects), ms', loadMs],
    ['(b) full validation (load + checkObjects), ms', fullMs],
    ['    of which rules, ms (b - load)', fullMs - loadMs],
    ['ratio (b) / (a), goal <= 3', fullMs / parseMs],
    ['(c) checkObject, one Member UPDATE against the 10,300 objects: p50 ms', percentile(singleTimes, 50)],
    ['    p99 ms', percentile(singleTimes, 99)],
    ['peak RSS after the first validation, MiB', peakAfterOneValidation],
    [`peak RSS after all ${ROUNDS * 3 + 2} runs, MiB`, peakRssMiB()],
  ]);
} finally {
  await rm(dir, { recursive: true, force: true });
}
