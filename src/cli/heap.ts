// The V8 heap of a process that serves a mount (`mount`, `run`).
//
// After each full collection V8 lets the old generation grow to the size that survived
// times a factor it picks from how fast collections have been, up to 4 (heap.cc
// RecomputeLimits, MemoryController::GrowingFactor). A cold walk of a large machine adds
// what the mount keeps (listings, kernel names, directories: about 95 MB at 10,000 devices)
// a little at a time, and each limit set along the way was a multiple of it: the heap ended
// at twice what was live (about 190 MB for 131 MB live), and those pages stay resident.
// Growing by a fifth instead costs a few more full collections during a cold walk, which
// V8 marks concurrently on another thread (17 instead of 8 at 10,000 devices: walk times
// unchanged within noise), and the heap then ends near 1.2 times what is live.
// --heap-growing-percent is read at every limit computation, so setting it at run time
// works as starting node with it would; it is set once the machine has booted, so that
// boot's speed is what it was. It is not a cap: the heap still grows as far as the machine
// needs (--max-old-space-size would be one, and could stop a large machine).

import { setFlagsFromString } from 'node:v8';

export const SERVING_HEAP_GROWTH_PERCENT = 20;

export function tuneHeapForServing(): void {
  setFlagsFromString(`--heap-growing-percent=${SERVING_HEAP_GROWTH_PERCENT}`);
}
