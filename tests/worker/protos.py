"""The host <-> worker gRPC messages, as the Python worker code sees them.

`azure-functions-runtime` (Microsoft's worker logic) does not ship the generated protobuf module:
the host process hands it one (`request.properties["protos"]`). The Functions host is not
installable here, so this module stands in for those generated classes, and it checks what
protobuf checks: an unknown field name raises ValueError, a value of the wrong type raises
TypeError, a map takes only the declared key and value types, an unset message field reads as a
default instance, and `WhichOneof` names the one member of a oneof that is set. Field names, enum
numbers and oneof groups are those of the host's FunctionRpc.proto messages the worker uses.
"""

from __future__ import annotations

from typing import Any, ClassVar

# Field kinds: a Python type for scalars, a Message subclass name for messages (resolved lazily),
# ("map", key type, value kind) and ("repeated", kind).
Kind = Any


class Message:
    FIELDS: ClassVar[dict[str, Kind]] = {}
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_set", set())
        for name, kind in self.FIELDS.items():
            if not _is_message(kind):  # unset message fields are built on read (__getattr__)
                object.__setattr__(self, name, _default(kind))
        for name, value in values.items():
            if name not in self.FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
            if value is None:  # protobuf's constructor skips None
                continue
            self._assign(name, value)

    def _assign(self, name: str, value: Any) -> None:
        kind = self.FIELDS[name]
        checked = _check(f"{type(self).__name__}.{name}", kind, value)
        for members in self.ONEOFS.values():
            if name in members:  # setting one member of a oneof clears the others
                for other in members:
                    if other != name and other in self._set:
                        self._set.discard(other)
                        if _is_message(self.FIELDS[other]):
                            object.__delattr__(self, other)
                        else:
                            object.__setattr__(self, other, _default(self.FIELDS[other]))
        object.__setattr__(self, name, checked)
        self._set.add(name)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set: an unset message field reads as a default instance.
        kind = type(self).FIELDS.get(name)
        if kind is not None and _is_message(kind):
            return _resolve(kind)()
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.FIELDS:
            raise AttributeError(f'Assignment not allowed (no field "{name}" in protocol message object).')
        self._assign(name, value)

    def WhichOneof(self, group: str) -> str | None:
        if group not in self.ONEOFS:
            raise ValueError(f'Protocol message has no "{group}" field.')
        return next((m for m in self.ONEOFS[group] if m in self._set), None)

    def HasField(self, name: str) -> bool:
        return name in self._set


def _is_message(kind: Kind) -> bool:
    kind = _resolve(kind)
    return isinstance(kind, type) and issubclass(kind, Message)


def _resolve(kind: Kind) -> Kind:
    return globals()[kind] if isinstance(kind, str) else kind


def _default(kind: Kind) -> Any:
    kind = _resolve(kind)
    if isinstance(kind, tuple):
        return {} if kind[0] == "map" else []
    if isinstance(kind, type) and issubclass(kind, Message):
        return kind()
    return kind()  # str -> "", int -> 0, float -> 0.0, bool -> False, bytes -> b""


def _check(where: str, kind: Kind, value: Any) -> Any:
    kind = _resolve(kind)
    if isinstance(kind, tuple):
        if kind[0] == "map":
            if not isinstance(value, dict):
                raise TypeError(f"{where}: a map field takes a dict, not {type(value).__name__}")
            return {
                _check(f"{where} key", kind[1], k): _check(f"{where}[{k!r}]", kind[2], v)
                for k, v in value.items()
            }
        return [_check(f"{where}[]", kind[1], v) for v in value]
    if isinstance(kind, type) and issubclass(kind, Message):
        if not isinstance(value, kind):
            raise TypeError(f"{where}: expected {kind.__name__}, got {type(value).__name__}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        return int(value)
    if not isinstance(value, kind):
        raise TypeError(
            f"{where}: {value!r} has type {type(value).__name__}, but expected one of: {kind.__name__}"
        )
    return value


# --- data ------------------------------------------------------------------------------------------


class NullableString(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"value": str}


class NullableDouble(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"value": float}


class NullableBool(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"value": bool}


class NullableTimestamp(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"value": object}


class RpcHttpCookie(Message):
    class SameSite:
        Lax = 1
        Strict = 2
        ExplicitNone = 3

    FIELDS: ClassVar[dict[str, Kind]] = {
        "name": str,
        "value": str,
        "domain": "NullableString",
        "path": "NullableString",
        "expires": "NullableTimestamp",
        "secure": "NullableBool",
        "http_only": "NullableBool",
        "same_site": int,
        "max_age": "NullableDouble",
    }


setattr(RpcHttpCookie.SameSite, "None", 0)  # a Python keyword, as in the generated enum


class RpcHttp(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "method": str,
        "url": str,
        "headers": ("map", str, str),
        "body": "TypedData",
        "params": ("map", str, str),
        "status_code": str,
        "query": ("map", str, str),
        "enable_content_negotiation": bool,
        "rawBody": "TypedData",
        "cookies": ("repeated", "RpcHttpCookie"),
    }


class TypedData(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "string": str,
        "json": str,
        "bytes": bytes,
        "stream": bytes,
        "http": "RpcHttp",
        "int": int,
        "double": float,
    }
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {
        "data": ("string", "json", "bytes", "stream", "http", "int", "double")
    }


class ParameterBinding(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"name": str, "data": "TypedData"}
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"rpc_data": ("data",)}


# --- metadata and results ------------------------------------------------------------------------------


class BindingInfo(Message):
    # Direction and DataType enum numbers.
    in_ = 0
    out = 1
    inout = 2
    undefined = 0
    string = 1
    binary = 2
    stream = 3
    FIELDS: ClassVar[dict[str, Kind]] = {"type": str, "direction": int, "data_type": int}


setattr(BindingInfo, "in", 0)


class RpcRetryOptions(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "max_retry_count": int,
        "delay_interval": object,
        "minimum_interval": object,
        "maximum_interval": object,
        "retry_strategy": object,
    }


class RpcFunctionMetadata(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "name": str,
        "directory": str,
        "script_file": str,
        "entry_point": str,
        "bindings": ("map", str, "BindingInfo"),
        "is_proxy": bool,
        "language": str,
        "raw_bindings": ("repeated", str),
        "function_id": str,
        "managed_dependency_enabled": bool,
        "retry_options": "RpcRetryOptions",
        "properties": ("map", str, str),
    }


class RpcException(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"source": str, "stack_trace": str, "message": str}


class StatusResult(Message):
    Failure = 0
    Success = 1
    Cancelled = 2
    FIELDS: ClassVar[dict[str, Kind]] = {"status": int, "result": str, "exception": "RpcException"}


class WorkerMetadata(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "runtime_name": str,
        "runtime_version": str,
        "worker_version": str,
        "worker_bitness": str,
        "custom_properties": ("map", str, str),
    }


class WorkerInitResponse(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "worker_version": str,
        "capabilities": ("map", str, str),
        "result": "StatusResult",
        "worker_metadata": "WorkerMetadata",
    }


class FunctionMetadataResponse(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "function_metadata_results": ("repeated", "RpcFunctionMetadata"),
        "result": "StatusResult",
        "use_default_metadata_indexing": bool,
    }


class FunctionLoadResponse(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {"function_id": str, "result": "StatusResult"}


class FunctionEnvironmentReloadResponse(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "worker_metadata": "WorkerMetadata",
        "capabilities": ("map", str, str),
        "result": "StatusResult",
    }


class InvocationResponse(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "invocation_id": str,
        "output_data": ("repeated", "ParameterBinding"),
        "return_value": "TypedData",
        "result": "StatusResult",
    }


# --- requests (what the host sends) ------------------------------------------------------------------------


class RpcTraceContext(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "trace_parent": str,
        "trace_state": str,
        "attributes": ("map", str, str),
    }


class RetryContext(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "retry_count": int,
        "max_retry_count": int,
        "exception": "RpcException",
    }


class WorkerInitRequest(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "host_version": str,
        "capabilities": ("map", str, str),
        "function_app_directory": str,
    }


class InvocationRequest(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "invocation_id": str,
        "function_id": str,
        "input_data": ("repeated", "ParameterBinding"),
        "trigger_metadata": ("map", str, "TypedData"),
        "trace_context": "RpcTraceContext",
        "retry_context": "RetryContext",
    }


class StreamingMessage(Message):
    FIELDS: ClassVar[dict[str, Kind]] = {
        "request_id": str,
        "worker_init_request": "WorkerInitRequest",
        "invocation_request": "InvocationRequest",
    }
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"content": ("worker_init_request", "invocation_request")}
