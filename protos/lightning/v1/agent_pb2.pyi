from lightning_ctl.protos.lightning.v1 import events_pb2 as _events_pb2
from lightning_ctl.protos.lightning.v1 import storage_pb2 as _storage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TunnelFrame(_message.Message):
    __slots__ = ("tunnel_id", "data", "error")
    TUNNEL_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tunnel_id: str
    data: bytes
    error: str
    def __init__(self, tunnel_id: _Optional[str] = ..., data: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class OpenTunnel(_message.Message):
    __slots__ = ("tunnel_id", "work_name", "attempt")
    TUNNEL_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    tunnel_id: str
    work_name: str
    attempt: int
    def __init__(self, tunnel_id: _Optional[str] = ..., work_name: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class PortRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class FetchBundleRequest(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

class BundleChunk(_message.Message):
    __slots__ = ("data", "total_bytes")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    total_bytes: int
    def __init__(self, data: _Optional[bytes] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class GpuDevice(_message.Message):
    __slots__ = ("index", "uuid", "name", "memory_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: int
    uuid: str
    name: str
    memory_bytes: int
    def __init__(self, index: _Optional[int] = ..., uuid: _Optional[str] = ..., name: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("cpus", "memory_bytes", "gpus")
    CPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    cpus: float
    memory_bytes: int
    gpus: _containers.RepeatedCompositeFieldContainer[GpuDevice]
    def __init__(self, cpus: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[GpuDevice, _Mapping]]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("agent_id", "name", "hostname", "resources", "labels", "protocol_version", "is_local", "running", "advertise_address", "ports")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    IS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    hostname: str
    resources: Resources
    labels: _containers.ScalarMap[str, str]
    protocol_version: int
    is_local: bool
    running: _containers.RepeatedCompositeFieldContainer[RunningWork]
    advertise_address: str
    ports: PortRange
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., hostname: _Optional[str] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., protocol_version: _Optional[int] = ..., is_local: _Optional[bool] = ..., running: _Optional[_Iterable[_Union[RunningWork, _Mapping]]] = ..., advertise_address: _Optional[str] = ..., ports: _Optional[_Union[PortRange, _Mapping]] = ...) -> None: ...

class RunningWork(_message.Message):
    __slots__ = ("work_name", "attempt", "pid", "gpu_indices", "port")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    pid: int
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    port: int
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., pid: _Optional[int] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., port: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("cpu_percent", "memory_used_bytes", "gpus")
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    memory_used_bytes: int
    gpus: _containers.RepeatedCompositeFieldContainer[GpuUsage]
    def __init__(self, cpu_percent: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[GpuUsage, _Mapping]]] = ...) -> None: ...

class GpuUsage(_message.Message):
    __slots__ = ("index", "utilization_percent", "memory_used_bytes", "memory_total_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: int
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    def __init__(self, index: _Optional[int] = ..., utilization_percent: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ...) -> None: ...

class WorkEvents(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_events_pb2.WorkEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_events_pb2.WorkEvent, _Mapping]]] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("register", "heartbeat", "events")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    register: Register
    heartbeat: Heartbeat
    events: WorkEvents
    def __init__(self, register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., events: _Optional[_Union[WorkEvents, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("session_id", "heartbeat_interval_s", "agent_credential", "max_attribute_bytes", "protocol_version")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    AGENT_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTRIBUTE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    heartbeat_interval_s: float
    agent_credential: str
    max_attribute_bytes: int
    protocol_version: int
    def __init__(self, session_id: _Optional[str] = ..., heartbeat_interval_s: _Optional[float] = ..., agent_credential: _Optional[str] = ..., max_attribute_bytes: _Optional[int] = ..., protocol_version: _Optional[int] = ...) -> None: ...

class LaunchWork(_message.Message):
    __slots__ = ("work_name", "attempt", "app_path", "vars_json", "env", "start_action", "stop_grace_s", "work_class", "init_args_json", "gpu_indices", "bundle_digest", "app_relpath", "api_credential", "port", "readiness_path", "rendezvous")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    APP_PATH_FIELD_NUMBER: _ClassVar[int]
    VARS_JSON_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    START_ACTION_FIELD_NUMBER: _ClassVar[int]
    STOP_GRACE_S_FIELD_NUMBER: _ClassVar[int]
    WORK_CLASS_FIELD_NUMBER: _ClassVar[int]
    INIT_ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    APP_RELPATH_FIELD_NUMBER: _ClassVar[int]
    API_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    READINESS_PATH_FIELD_NUMBER: _ClassVar[int]
    RENDEZVOUS_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    app_path: str
    vars_json: str
    env: _containers.ScalarMap[str, str]
    start_action: bool
    stop_grace_s: float
    work_class: str
    init_args_json: str
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    bundle_digest: str
    app_relpath: str
    api_credential: str
    port: int
    readiness_path: str
    rendezvous: bool
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., app_path: _Optional[str] = ..., vars_json: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., start_action: _Optional[bool] = ..., stop_grace_s: _Optional[float] = ..., work_class: _Optional[str] = ..., init_args_json: _Optional[str] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., bundle_digest: _Optional[str] = ..., app_relpath: _Optional[str] = ..., api_credential: _Optional[str] = ..., port: _Optional[int] = ..., readiness_path: _Optional[str] = ..., rendezvous: _Optional[bool] = ...) -> None: ...

class StopWork(_message.Message):
    __slots__ = ("work_name", "attempt", "reason", "grace_s")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GRACE_S_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    reason: str
    grace_s: float
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., reason: _Optional[str] = ..., grace_s: _Optional[float] = ...) -> None: ...

class EventAck(_message.Message):
    __slots__ = ("work_name", "attempt", "seq")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    seq: int
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("launch", "call", "update", "stop", "upload", "tunnel")
    LAUNCH_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_FIELD_NUMBER: _ClassVar[int]
    launch: LaunchWork
    call: _events_pb2.RunCall
    update: _events_pb2.UpdateVars
    stop: StopWork
    upload: _storage_pb2.UploadArtifact
    tunnel: OpenTunnel
    def __init__(self, launch: _Optional[_Union[LaunchWork, _Mapping]] = ..., call: _Optional[_Union[_events_pb2.RunCall, _Mapping]] = ..., update: _Optional[_Union[_events_pb2.UpdateVars, _Mapping]] = ..., stop: _Optional[_Union[StopWork, _Mapping]] = ..., upload: _Optional[_Union[_storage_pb2.UploadArtifact, _Mapping]] = ..., tunnel: _Optional[_Union[OpenTunnel, _Mapping]] = ...) -> None: ...

class Commands(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    def __init__(self, commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ...) -> None: ...

class OutputAck(_message.Message):
    __slots__ = ("work_name", "attempt", "stdout_offset", "stderr_offset")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STDOUT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    STDERR_OFFSET_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    stdout_offset: int
    stderr_offset: int
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., stdout_offset: _Optional[int] = ..., stderr_offset: _Optional[int] = ...) -> None: ...

class EventRejected(_message.Message):
    __slots__ = ("work_name", "attempt", "seq", "code", "message")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    seq: int
    code: str
    message: str
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., seq: _Optional[int] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ControlMessage(_message.Message):
    __slots__ = ("welcome", "commands", "ack", "output_ack", "rejected")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ACK_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    commands: Commands
    ack: EventAck
    output_ack: OutputAck
    rejected: EventRejected
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., commands: _Optional[_Union[Commands, _Mapping]] = ..., ack: _Optional[_Union[EventAck, _Mapping]] = ..., output_ack: _Optional[_Union[OutputAck, _Mapping]] = ..., rejected: _Optional[_Union[EventRejected, _Mapping]] = ...) -> None: ...
