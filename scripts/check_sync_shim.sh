#!/usr/bin/env bash
# Every atomic, Mutex and Condvar in the core goes through src/sync.rs (the
# loom shim), so that loom can model it. Refuse direct std uses elsewhere.
# (The binding layer src/python/ is not modelled and is exempt.)
set -euo pipefail
cd "$(dirname "$0")/.."
hits=$(grep -rnE 'std::sync::(atomic|Mutex|Condvar)|sync::atomic::(Atomic|fence)' src \
  --include='*.rs' | grep -v '^src/sync.rs:' | grep -v '^src/python/' \
  | grep -v '// shim-exempt:' || true)
if [ -n "$hits" ]; then
  echo "std atomics/locks used outside src/sync.rs (use crate::sync, or mark '// shim-exempt: why'):"
  echo "$hits"
  exit 1
fi
echo "sync shim: ok"
