#!/usr/bin/env bash
# Runs every compiled test file with node's own runner. Node 20 would treat every .js under
# a directory named test as a test, helpers included, so the files are named explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency=1 "${files[@]}"
