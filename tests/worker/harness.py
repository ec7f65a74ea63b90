"""Drive function_app.py through Microsoft's Python worker code (PyPI `azure-functions-runtime`).

The Functions host talks to the Python worker over gRPC; `azure-functions-runtime` is the worker's
logic behind that channel: WorkerInitRequest indexes function_app.py (imports it, finds the
FunctionApp, validates every function's bindings and annotations, builds RpcFunctionMetadata),
FunctionsMetadataRequest returns that metadata to the host, InvocationRequest converts the host's
RpcHttp into `func.HttpRequest`, runs the function on the worker's thread pool and converts the
returned `func.HttpResponse` back into RpcHttp. This harness plays the host's side of those three
messages with `tests.worker.protos` standing in for the generated protobuf classes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.worker import protos

try:
    import azure_functions_runtime as runtime
except ImportError as exc:  # fail loudly: this suite must never be skipped
    raise ImportError(
        "azure-functions-runtime is not installed: `make setup` installs it from "
        "requirements-worker.txt (pip install --ignore-requires-python -r requirements-worker.txt)"
    ) from exc

ROOT = Path(__file__).resolve().parents[2]

# What the Functions host announces to the worker (the capabilities a v4 host sends).
HOST_CAPABILITIES = {"RpcHttpBodyOnly": "true", "RawHttpBodyBytes": "true", "TypedDataCollection": "true"}


@dataclass
class WorkerResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Worker:
    """One worker process's view: init (indexing), metadata, invocations."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        runtime.start_threadpool_executor()
        self.init_response = self._call(
            runtime.worker_init_request,
            worker_init_request=protos.WorkerInitRequest(
                host_version="4.1037.0",
                capabilities=HOST_CAPABILITIES,
                function_app_directory=str(ROOT),
            ),
        )
        self.metadata_response = self._call(runtime.functions_metadata_request)
        self.metadata = {m.name: m for m in self.metadata_response.function_metadata_results}

    def close(self) -> None:
        runtime.stop_threadpool_executor()
        self.loop.close()

    def _call(self, handler: Any, **content: Any) -> Any:
        envelope = SimpleNamespace(
            request=protos.StreamingMessage(request_id=uuid.uuid4().hex, **content),
            properties={"host": "127.0.0.1", "protos": protos},
        )
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(handler(envelope))

    def raw_bindings(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(b) for b in self.metadata[name].raw_bindings]

    def http(
        self,
        name: str,
        method: str,
        path: str,
        *,
        route_params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        host: str = "trackly.azurewebsites.net",
        trace_parent: str = "",
    ) -> WorkerResponse:
        """Invoke HTTP function `name` as the host would for `method https://host/api/<path>`."""
        url = f"https://{host}/api/{path.lstrip('/')}"
        # The host's query map holds one value per key (repeated keys are joined with a comma);
        # the full URL, with every repetition, is in `url`.
        query: dict[str, str] = {}
        for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        http = protos.RpcHttp(
            method=method,
            url=url,
            headers={k.lower(): v for k, v in (headers or {}).items()},
            body=protos.TypedData(bytes=body),
            params=route_params or {},
            query=query,
        )
        response = self._call(
            runtime.invocation_request,
            invocation_request=protos.InvocationRequest(
                invocation_id=str(uuid.uuid4()),
                function_id=self.metadata[name].function_id,
                input_data=[protos.ParameterBinding(name="req", data=protos.TypedData(http=http))],
                trigger_metadata={},
                # The host's W3C trace context of this invocation (its request span).
                trace_context=protos.RpcTraceContext(trace_parent=trace_parent, trace_state="", attributes={}),
            ),
        )
        if response.result.status != protos.StatusResult.Success:
            raise AssertionError(f"{name} failed in the worker: {response.result.exception.message}")
        out = response.return_value.http
        body_kind = out.body.WhichOneof("data")
        raw = getattr(out.body, body_kind) if body_kind else b""
        return WorkerResponse(
            status=int(out.status_code),
            headers={k.lower(): v for k, v in out.headers.items()},
            body=raw.encode() if isinstance(raw, str) else raw,
        )
