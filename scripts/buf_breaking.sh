#!/usr/bin/env bash
# Checks protos/ for breaking changes against the previous commit of main (the last landed
# contract). Skipped only while there is no earlier commit with protos in it.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BUF_BREAKING_AGAINST:-HEAD~1}
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null \
   || ! git cat-file -e "$base:protos/buf.yaml" 2>/dev/null; then
  echo "buf breaking: no earlier contract at $base, nothing to compare"
  exit 0
fi
cd protos
buf breaking --against "../.git#ref=$base,subdir=protos"
echo "buf breaking: no breaking change against $base"
