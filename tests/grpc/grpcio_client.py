"""Unary gRPC calls through grpcio, the C-core client (the one behind Python, C++, Ruby, PHP
and C#), for the end-to-end tests in tests/api/grpc.rs.

tonic tolerates framings that C-core refuses (a status in headers that do not end the stream,
say), so the status cases are checked with this client too. It speaks bytes only: the Rust
test encodes the request message and decodes the response, so no generated stubs are needed.

Input, one JSON object per line on stdin:
  {"target": "127.0.0.1:3000", "method": "/pkg.Service/Method",
   "message_hex": "0a24…" | "message_size": 5242880,
   "metadata": [["authorization", "Bearer …"]]}
Output, one JSON object per line on stdout, in the same order:
  {"code": "OK" | "NOT_FOUND" | …, "details": "…", "response_hex": "…" | null}
"""

import json
import sys

import grpc

# Long enough for a call against a database that is down (a fast UNAVAILABLE is expected).
TIMEOUT_SECS = 20


def call(spec):
    if "message_size" in spec:
        # A message of the given size; its bytes need not parse, it must be refused by size.
        message = b"\x00" * spec["message_size"]
    else:
        message = bytes.fromhex(spec.get("message_hex", ""))
    metadata = [tuple(pair) for pair in spec.get("metadata", [])]
    with grpc.insecure_channel(spec["target"]) as channel:
        # Identity (de)serialisers: the request and response are raw bytes.
        rpc = channel.unary_unary(spec["method"])
        try:
            response = rpc(message, metadata=metadata, timeout=TIMEOUT_SECS)
            return {"code": "OK", "details": "", "response_hex": response.hex()}
        except grpc.RpcError as error:
            return {"code": error.code().name, "details": error.details() or "", "response_hex": None}


def main():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(call(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
