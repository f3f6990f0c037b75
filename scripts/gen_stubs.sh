#!/usr/bin/env bash
# Generates Python stubs (messages, gRPC, and mypy-protobuf .pyi) from protos/ into gen/.
# Run through `make stubs`, which puts the venv's protoc plugins on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

out=gen
rm -rf "$out/ticketing"
mkdir -p "$out"
mapfile -t files < <(find protos/ticketing -name '*.proto' | sort)

python -m grpc_tools.protoc \
  -I protos -I protos/third_party \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  "${files[@]}"

# protoc emits no __init__.py; make every generated folder a regular package.
find "$out/ticketing" -type d -exec touch {}/__init__.py \;
touch "$out/ticketing/py.typed"
echo "generated $(find "$out/ticketing" -name '*_pb2*.py' | wc -l) modules from ${#files[@]} protos"
