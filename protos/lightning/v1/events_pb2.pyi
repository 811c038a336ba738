from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VarsDelta(_message.Message):
    __slots__ = ("values", "command_seq")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    COMMAND_SEQ_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    command_seq: int
    def __init__(self, values: _Optional[_Mapping[str, str]] = ..., command_seq: _Optional[int] = ...) -> None: ...

class StatusChange(_message.Message):
    __slots__ = ("call_hash", "stage", "timestamp", "reason", "message")
    CALL_HASH_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    call_hash: str
    stage: str
    timestamp: float
    reason: str
    message: str
    def __init__(self, call_hash: _Optional[str] = ..., stage: _Optional[str] = ..., timestamp: _Optional[float] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class LogLines(_message.Message):
    __slots__ = ("stream", "lines", "offset", "end_offset")
    class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STREAM_UNSPECIFIED: _ClassVar[LogLines.Stream]
        STREAM_STDOUT: _ClassVar[LogLines.Stream]
        STREAM_STDERR: _ClassVar[LogLines.Stream]
    STREAM_UNSPECIFIED: LogLines.Stream
    STREAM_STDOUT: LogLines.Stream
    STREAM_STDERR: LogLines.Stream
    STREAM_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    stream: LogLines.Stream
    lines: _containers.RepeatedScalarFieldContainer[str]
    offset: int
    end_offset: int
    def __init__(self, stream: _Optional[_Union[LogLines.Stream, str]] = ..., lines: _Optional[_Iterable[str]] = ..., offset: _Optional[int] = ..., end_offset: _Optional[int] = ...) -> None: ...

class ProcessExit(_message.Message):
    __slots__ = ("pid", "exit_code", "signal", "reason")
    PID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    pid: int
    exit_code: int
    signal: int
    reason: str
    def __init__(self, pid: _Optional[int] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkError(_message.Message):
    __slots__ = ("traceback",)
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    traceback: str
    def __init__(self, traceback: _Optional[str] = ...) -> None: ...

class WorkEvent(_message.Message):
    __slots__ = ("work_name", "attempt", "seq", "delta", "status", "logs", "exit", "error", "started", "invalid", "endpoint", "first_seq")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    EXIT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    seq: int
    delta: VarsDelta
    status: StatusChange
    logs: LogLines
    exit: ProcessExit
    error: WorkError
    started: WorkStarted
    invalid: InvalidEvent
    endpoint: WorkEndpoint
    first_seq: int
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., seq: _Optional[int] = ..., delta: _Optional[_Union[VarsDelta, _Mapping]] = ..., status: _Optional[_Union[StatusChange, _Mapping]] = ..., logs: _Optional[_Union[LogLines, _Mapping]] = ..., exit: _Optional[_Union[ProcessExit, _Mapping]] = ..., error: _Optional[_Union[WorkError, _Mapping]] = ..., started: _Optional[_Union[WorkStarted, _Mapping]] = ..., invalid: _Optional[_Union[InvalidEvent, _Mapping]] = ..., endpoint: _Optional[_Union[WorkEndpoint, _Mapping]] = ..., first_seq: _Optional[int] = ...) -> None: ...

class WorkEndpoint(_message.Message):
    __slots__ = ("host", "port", "internal_ip", "url", "message", "error")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_IP_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    internal_ip: str
    url: str
    message: str
    error: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., internal_ip: _Optional[str] = ..., url: _Optional[str] = ..., message: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class WorkStarted(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class InvalidEvent(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class RunCall(_message.Message):
    __slots__ = ("work_name", "attempt", "call_hash", "args_json", "kwargs_json", "vars_json", "command_seq")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CALL_HASH_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    VARS_JSON_FIELD_NUMBER: _ClassVar[int]
    COMMAND_SEQ_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    call_hash: str
    args_json: str
    kwargs_json: str
    vars_json: str
    command_seq: int
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., call_hash: _Optional[str] = ..., args_json: _Optional[str] = ..., kwargs_json: _Optional[str] = ..., vars_json: _Optional[str] = ..., command_seq: _Optional[int] = ...) -> None: ...

class UpdateVars(_message.Message):
    __slots__ = ("work_name", "attempt", "vars_json", "command_seq")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    VARS_JSON_FIELD_NUMBER: _ClassVar[int]
    COMMAND_SEQ_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    vars_json: str
    command_seq: int
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., vars_json: _Optional[str] = ..., command_seq: _Optional[int] = ...) -> None: ...
