"""`python -m common.grpc.healthcheck HOST:PORT`: exit 0 when the server's standard health
service (grpc.health.v1) answers SERVING, 1 otherwise.

For container healthchecks (docker-compose.yml), where the image has Python but no
grpc_health_probe; Kubernetes asks the same service itself (`grpc:` probes).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, *, service: str = "", timeout: float = 3.0) -> str | None:
    """None when `address` reports SERVING for `service`, otherwise why not."""
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return f"{address}: {error.code().name}"
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.grpc.healthcheck")
    parser.add_argument("address", help="HOST:PORT of the gRPC server")
    parser.add_argument("--service", default="", help="a service name; empty: the server")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    problem = check(args.address, service=args.service, timeout=args.timeout)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
