import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../../test/support/fake-apiserver/index.js';
import { ManualClock } from '../../util/clock.js';
import { createLogger, silentLogger } from '../../util/log.js';
import { EVENT_RESOURCE, KubeClient, type KubeObject } from '../client.js';
import { DEFAULT_SUMMARY_DELAY_MS, EventRecorder } from './events.js';
import type { EventSpec } from './status.js';

function member(name: string, workspace = 'acme'): KubeObject {
  return { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name, namespace: 'team-a', uid: `uid-${name}` }, spec: { workspaceRef: { name: workspace } } };
}

const invited: EventSpec = { type: 'Normal', reason: 'Invited', note: 'Invitation sent.', summarize: true };
const activated: EventSpec = { type: 'Normal', reason: 'Activated', note: 'Accepted.' };
const conflict: EventSpec = { type: 'Warning', reason: 'Conflict', note: 'Another Member claims this email.', summarize: true };

interface SentEvent {
  reason: string;
  note: string;
  type: string;
  regarding: { kind: string; name: string; uid?: string };
}

describe('EventRecorder', () => {
  let fake: FakeApiServer;
  let clock: ManualClock;
  let recorder: EventRecorder;
  const sent = () =>
    fake
      .list(`${EVENT_RESOURCE.group}/${EVENT_RESOURCE.version}`, 'Event', 'team-a')
      .map((e) => e as unknown as SentEvent)
      .map((e) => `${e.type} ${e.reason} ${e.regarding.kind}/${e.regarding.name}${e.regarding.uid ? ` (${e.regarding.uid})` : ''}: ${e.note}`)
      .sort();

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    clock = new ManualClock();
    const workspace: KubeObject = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Workspace', metadata: { name: 'acme', namespace: 'team-a', uid: 'uid-acme' } };
    recorder = new EventRecorder({
      client: new KubeClient(fake.kubeConfig()),
      instance: 'test',
      clock,
      log: silentLogger(),
      workspace: (namespace, name) => (namespace === 'team-a' && name === 'acme' ? workspace : undefined),
    });
  });
  afterEach(async () => {
    await fake.stop();
  });

  it('sends routine first-status events as one summary per workspace and reason, after the delay', async () => {
    for (const name of ['m1', 'm2', 'm3', 'm4', 'm5']) recorder.record(member(name), invited, 'Reconcile');
    recorder.record(member('g1', 'globex'), invited, 'Reconcile');
    // Nothing is sent before the delay.
    clock.advance(DEFAULT_SUMMARY_DELAY_MS - 1);
    expect(fake.requestCount('POST', /events/)).toBe(0);
    clock.advance(1);
    await recorder.flush();
    expect(sent()).toEqual([
      'Normal Invited Workspace/acme (uid-acme): 5 Members Invited: m1, m2, m3 and 2 more. Invitation sent.',
      'Normal Invited Workspace/globex: 1 Member Invited: g1. Invitation sent.',
    ]);
  });

  it('keeps per-object events for warnings and later transitions', async () => {
    recorder.record(member('m1'), conflict, 'Reconcile');
    recorder.record(member('m2'), activated, 'Reconcile');
    await recorder.flush();
    expect(sent()).toEqual(['Normal Activated Member/m2 (uid-m2): Accepted.', 'Warning Conflict Member/m1 (uid-m1): Another Member claims this email.']);
  });

  it('flush() sends gathered summaries without waiting for the delay', async () => {
    recorder.record(member('m1'), invited, 'Reconcile');
    await recorder.flush();
    expect(sent()).toEqual(['Normal Invited Workspace/acme (uid-acme): 1 Member Invited: m1. Invitation sent.']);
    clock.advance(DEFAULT_SUMMARY_DELAY_MS);
    await recorder.flush();
    expect(sent()).toHaveLength(1);
  });
});

// Event notes can name people; info-level logs must not.
function capture(level: string): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, log: createLogger({ level, destination }) };
}

const alice = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name: 'alice', namespace: 'acme', uid: 'u1' } };
const stubClient = { create: async () => ({}) } as unknown as KubeClient;

describe('EventRecorder logs', () => {
  it.each([
    ['info', false],
    ['debug', true],
  ])('at %s, the note (with an email) is logged: %s', async (level, shown) => {
    const { lines, log } = capture(level);
    const recorder = new EventRecorder({ client: stubClient, instance: 'test', clock: new ManualClock('2026-06-01T00:00:00Z'), log });
    recorder.record(alice as never, { type: 'Normal', reason: 'Invited', note: 'Invitation sent to alice@acme.example.' }, 'Reconcile');
    await recorder.flush();
    const text = lines.join('');
    expect(text).toContain('"name":"alice"');
    expect(text.includes('alice@acme.example')).toBe(shown);
  });
});
