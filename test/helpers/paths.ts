// Test files run from dist/test/...; the repository root is three levels above this file.
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const TOPOLOGIES = join(ROOT, 'topologies');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
