import { describe, expect, it } from 'vitest';
import { getDefaultProfile } from '../../model/profile.js';
import type { GatehouseObject, ObjectRef } from '../../model/kinds.js';
import type { ObjectIndex } from '../../rules/types.js';
import { aMember, aRole, aWorkspace } from '../../rules/testing/builders.js';
import { createObjectIndex } from '../../rules/index.js';
import { ManualClock } from '../../util/clock.js';
import { parseAdmissionReview } from './admission.js';
import { denialFor, jsonEqual, reviewAdmission, type AdmissionDependencies } from './handler.js';
import { anAdmissionReview } from './testing.js';

const allowAll = { review: async () => ({ allowed: true }) };
const deps = (index: ObjectIndex): AdmissionDependencies => ({ index, profile: getDefaultProfile(), clock: new ManualClock('2026-06-01T00:00:00Z'), authorizer: allowAll });
const request = (fixture: Parameters<typeof anAdmissionReview>[0]) => parseAdmissionReview(anAdmissionReview(fixture));

describe('reviewAdmission', () => {
  it('refuses (500) rather than allowing when the rules cannot run', async () => {
    const broken: ObjectIndex = {
      list: () => {
        throw new Error('cache not synced');
      },
      get: () => {
        throw new Error('cache not synced');
      },
    };
    const outcome = await reviewAdmission(request({ operation: 'CREATE', object: aMember() }), deps(broken));
    expect(outcome.decision).toBe('RulesFailed');
    expect(outcome.response).toMatchObject({ allowed: false, status: { code: 500, reason: 'InternalError' } });
    expect(outcome.response.status?.message).toContain('Gatehouse could not check Member acme/alice: cache not synced');
  });

  it('refuses (503) when the escalation check cannot be made, and says which check', async () => {
    const outcome = await reviewAdmission(request({ operation: 'CREATE', object: aMember() }), {
      ...deps(createObjectIndex([aWorkspace()])),
      authorizer: {
        review: async () => {
          throw new Error('timeout');
        },
      },
    });
    expect(outcome.response.status).toMatchObject({ code: 503, reason: 'ServiceUnavailable' });
    expect(outcome.response.status?.details?.causes).toEqual([expect.objectContaining({ reason: 'EscalationCheckFailed', field: 'spec.role' })]);
  });

  it('names the object for a CREATE with generateName', async () => {
    const member = aMember();
    const review = anAdmissionReview({ operation: 'CREATE', object: { ...member, metadata: { namespace: 'acme', generateName: 'bob-' } as never, spec: { ...member.spec, role: 'ghost' } } });
    delete (review.request as { name?: string }).name;
    const outcome = await reviewAdmission(parseAdmissionReview(review), deps(createObjectIndex([aWorkspace()])));
    expect(outcome.response.status?.message).toMatch(/^Member acme\/bob-generated: RoleNotFound/);
  });
});

describe('reviewAdmission: a reference the cache has not seen yet', () => {
  // The cache is a watch a moment behind: `kubectl apply -f folder/` sends a Workspace and then its Members.
  const reader = (objects: GatehouseObject[]) => {
    const asked: ObjectRef[][] = [];
    const readMissing = async (refs: readonly ObjectRef[]) => {
      asked.push([...refs]);
      return objects.filter((o) => refs.some((r) => r.kind === o.kind && r.name === o.metadata.name && r.namespace === o.metadata.namespace));
    };
    return { asked, readMissing };
  };
  const customRole = aRole({ metadata: { name: 'analyst', namespace: 'acme' } } as never);

  it.each([
    { name: 'a Workspace the API server has', object: aMember(), cached: [], apiServer: [aWorkspace()], allowed: true, asked: ['Workspace acme/acme'] },
    { name: 'a custom Role the API server has', object: aMember({ spec: { ...aMember().spec, role: 'analyst' } } as never), cached: [aWorkspace()], apiServer: [customRole], allowed: true, asked: ['Role acme/analyst'] },
    { name: 'a Workspace the API server lacks too', object: aMember(), cached: [], apiServer: [], allowed: false, asked: ['Workspace acme/acme'] },
    { name: 'nothing missing: no read', object: aMember(), cached: [aWorkspace()], apiServer: [], allowed: true, asked: [] },
  ])('reads $name once before judging', async ({ object, cached, apiServer, allowed, asked }) => {
    const { asked: calls, readMissing } = reader(apiServer);
    const outcome = await reviewAdmission(request({ operation: 'CREATE', object }), { ...deps(createObjectIndex(cached)), readMissing });
    expect(outcome.response.allowed).toBe(allowed);
    if (!allowed) expect(outcome.response.status?.details?.causes?.map((c) => c.reason)).toContain('UnknownWorkspace');
    expect(calls.map((refs) => refs.map((r) => `${r.kind} ${r.namespace}/${r.name}`))).toEqual(asked.length === 0 ? [] : [asked]);
  });

  it('still refuses when the API server cannot be read (fails closed)', async () => {
    const readMissing = async () => {
      throw new Error('connection refused');
    };
    const outcome = await reviewAdmission(request({ operation: 'CREATE', object: aMember() }), { ...deps(createObjectIndex([])), readMissing });
    expect(outcome.response.allowed).toBe(false);
    expect(outcome.response.status?.details?.causes?.map((c) => c.reason)).toEqual(['UnknownWorkspace']);
  });

  it('without a reader, refuses as before', async () => {
    const outcome = await reviewAdmission(request({ operation: 'CREATE', object: aMember() }), deps(createObjectIndex([])));
    expect(outcome.response.allowed).toBe(false);
  });
});

describe('denialFor', () => {
  const subject = { kind: 'Member' as const, namespace: 'acme', name: 'bob' };
  it('writes one line for one problem and a list for several; names another object when a violation is about it', () => {
    const one = denialFor('u', subject, [{ ruleId: 'RoleNotFound', severity: 'error', object: subject, field: 'spec.role', message: 'no such role' }], []);
    expect(one.status?.message).toBe('Member acme/bob: RoleNotFound spec.role: no such role');
    const other = { kind: 'Role' as const, namespace: 'acme', name: 'x' };
    const two = denialFor(
      'u',
      subject,
      [
        { ruleId: 'RoleNotFound', severity: 'error', object: subject, field: 'spec.role', message: 'no such role' },
        { ruleId: 'TooManyAdmins', severity: 'error', object: other, field: '', message: 'too many' },
      ],
      ['NoRoleAssigned spec.role: hm'],
    );
    expect(two.status?.message).toBe('Member acme/bob has 2 problems:\n- RoleNotFound spec.role: no such role\n- TooManyAdmins (Role acme/x): too many');
    expect(two.status?.details?.causes?.[1]).toEqual({ reason: 'TooManyAdmins', field: '', message: 'TooManyAdmins: Role acme/x: too many' });
    expect(two.warnings).toEqual(['NoRoleAssigned spec.role: hm']);
  });
});

describe('jsonEqual', () => {
  it.each([
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [[1, 2], [2, 1], false],
    [{ a: null }, { a: null }, true],
    [{ a: '1' }, { a: 1 }, false],
  ])('%j vs %j: %s', (a, b, equal) => {
    expect(jsonEqual(a, b)).toBe(equal);
  });
});
