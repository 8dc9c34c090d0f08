// V8's memory reducer gives memory back once a process goes quiet and, as a
// watchdog, about 100 s after the last full collection whatever the load. By
// default its collection compacts the whole heap to shrink it, and the event
// loop waits for all of it: for the decision API, whose heap holds the facts of
// every member, a pause of 67 to 78 ms at 100,000 members (--trace-gc), every
// check behind it waiting (docs/decision-api.md). Without the memory-footprint
// mode the reducer's collection is an ordinary full one, with the pauses of
// one (2.6 to 11.8 ms there), and V8 still gives back the pages it frees.
import { setFlagsFromString } from 'node:v8';

/**
 * Makes the memory reducer's collections ordinary full ones for the rest of the process. V8 reads
 * the flag each time the reducer starts a collection, so setting it at start-up acts as the
 * command-line flag does.
 */
export function keepMemoryReducerPausesShort(setFlags: (flags: string) => void = setFlagsFromString): void {
  setFlags('--no-memory-reducer-favors-memory');
}
