#!/usr/bin/env bash
# Proves a release binary was compiled with FMA: the GEMM micro-kernel must contain vfmadd instructions.
# On non-x86 machines there is nothing to check (NEON has fused multiply-add by default).
set -euo pipefail
bin=${1:-.build/release/atlas}
[ "$(uname -m)" = "x86_64" ] || { echo "vector check: $(uname -m), skipped"; exit 0; }
n=$(objdump -d --no-show-raw-insn "$bin" | grep -c 'vfmadd' || true)
echo "vector check: $n vfmadd instructions in $bin"
if [ "$n" -lt 16 ]; then
  echo "vector check FAILED: release binary has no FMA code; AVX2/FMA target flags are missing (see Package.swift)" >&2
  exit 1
fi
