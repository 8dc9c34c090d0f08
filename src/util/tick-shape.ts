// Keeps the hidden class of Node's process.nextTick queue entries alive for the
// life of the process (ADR 20).
//
// nextTick builds each entry as an object literal with computed symbol keys.
// V8 holds the transitions to that literal's hidden classes weakly: a full
// garbage collection at a moment when no entry is queued frees them, and the
// next entry gets new ones. The literal's inline caches record each new class;
// after a few such collections (a server's start-up, loading its facts, has
// several) they go megamorphic for good, and every nextTick (several per HTTP
// request) takes V8's slow runtime path: measured, about 400-750 ns a call
// instead of 55-120 ns, 8.6% of a decision's CPU. One entry kept alive keeps the
// classes, and the caches stay monomorphic.
import { createHook } from 'node:async_hooks';

let kept: object | undefined;

/**
 * Captures one nextTick queue entry and keeps it. Call it early, before a
 * full collection has run; later calls do nothing. The async hook it needs is
 * on for one nextTick only.
 */
export function keepTickObjectShape(): void {
  if (kept !== undefined) return;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') kept ??= resource;
    },
  }).enable();
  try {
    process.nextTick(() => {});
  } finally {
    hook.disable();
  }
}
