// Event notes can name people; info-level logs must not (issue 10, "Smaller").
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../util/clock.js';
import { createLogger } from '../../util/log.js';
import type { KubeClient } from '../client.js';
import { EventRecorder } from './events.js';

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

const member = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name: 'alice', namespace: 'acme', uid: 'u1' } };
const client = { create: async () => ({}) } as unknown as KubeClient;

describe('EventRecorder logs', () => {
  it.each([
    ['info', false],
    ['debug', true],
  ])('at %s, the note (with an email) is logged: %s', async (level, shown) => {
    const { lines, log } = capture(level);
    const recorder = new EventRecorder({ client, instance: 'test', clock: new ManualClock('2026-06-01T00:00:00Z'), log });
    recorder.record(member as never, { type: 'Normal', reason: 'Invited', note: 'Invitation sent to alice@acme.example.' }, 'Reconcile');
    await recorder.flush();
    const text = lines.join('');
    expect(text).toContain('"name":"alice"');
    expect(text.includes('alice@acme.example')).toBe(shown);
  });
});
