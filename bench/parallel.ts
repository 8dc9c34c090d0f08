/** Calls op(0) … op(count - 1), with at most `inFlight` calls waiting at a time, each index once. */
export async function inParallel(count: number, inFlight: number, op: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await op(next++);
    }),
  );
}
