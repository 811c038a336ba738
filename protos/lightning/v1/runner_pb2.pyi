from lightning_ctl.protos.lightning.v1 import events_pb2 as _events_pb2
from lightning_ctl.protos.lightning.v1 import storage_pb2 as _storage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SupervisorMessage(_message.Message):
    __slots__ = ("init", "call", "update", "ack", "resend", "storage_reply")
    INIT_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    RESEND_FIELD_NUMBER: _ClassVar[int]
    STORAGE_REPLY_FIELD_NUMBER: _ClassVar[int]
    init: RunnerInit
    call: _events_pb2.RunCall
    update: _events_pb2.UpdateVars
    ack: EventsAcked
    resend: ResendEvents
    storage_reply: _storage_pb2.StorageReply
    def __init__(self, init: _Optional[_Union[RunnerInit, _Mapping]] = ..., call: _Optional[_Union[_events_pb2.RunCall, _Mapping]] = ..., update: _Optional[_Union[_events_pb2.UpdateVars, _Mapping]] = ..., ack: _Optional[_Union[EventsAcked, _Mapping]] = ..., resend: _Optional[_Union[ResendEvents, _Mapping]] = ..., storage_reply: _Optional[_Union[_storage_pb2.StorageReply, _Mapping]] = ...) -> None: ...

class ResendEvents(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EventsAcked(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class RunnerHello(_message.Message):
    __slots__ = ("work_name", "attempt", "pid", "initialized")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    INITIALIZED_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    pid: int
    initialized: bool
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., pid: _Optional[int] = ..., initialized: _Optional[bool] = ...) -> None: ...

class RunnerInit(_message.Message):
    __slots__ = ("vars_json", "start_action", "work_class", "init_args_json", "max_attribute_bytes")
    VARS_JSON_FIELD_NUMBER: _ClassVar[int]
    START_ACTION_FIELD_NUMBER: _ClassVar[int]
    WORK_CLASS_FIELD_NUMBER: _ClassVar[int]
    INIT_ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTRIBUTE_BYTES_FIELD_NUMBER: _ClassVar[int]
    vars_json: str
    start_action: bool
    work_class: str
    init_args_json: str
    max_attribute_bytes: int
    def __init__(self, vars_json: _Optional[str] = ..., start_action: _Optional[bool] = ..., work_class: _Optional[str] = ..., init_args_json: _Optional[str] = ..., max_attribute_bytes: _Optional[int] = ...) -> None: ...

class RunnerMessage(_message.Message):
    __slots__ = ("events", "hello", "storage")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedScalarFieldContainer[bytes]
    hello: RunnerHello
    storage: _containers.RepeatedCompositeFieldContainer[_storage_pb2.StorageRequest]
    def __init__(self, events: _Optional[_Iterable[bytes]] = ..., hello: _Optional[_Union[RunnerHello, _Mapping]] = ..., storage: _Optional[_Iterable[_Union[_storage_pb2.StorageRequest, _Mapping]]] = ...) -> None: ...
