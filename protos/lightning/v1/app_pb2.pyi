from lightning_ctl.protos.lightning.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IssueJoinTokenRequest(_message.Message):
    __slots__ = ("ttl_s", "uses", "agent_name", "labels", "scope")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ttl_s: float
    uses: int
    agent_name: str
    labels: _containers.ScalarMap[str, str]
    scope: str
    def __init__(self, ttl_s: _Optional[float] = ..., uses: _Optional[int] = ..., agent_name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., scope: _Optional[str] = ...) -> None: ...

class JoinToken(_message.Message):
    __slots__ = ("token", "token_id", "expires_at")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_id: str
    expires_at: float
    def __init__(self, token: _Optional[str] = ..., token_id: _Optional[str] = ..., expires_at: _Optional[float] = ...) -> None: ...

class RevokeAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: str
    def __init__(self, agent: _Optional[str] = ...) -> None: ...

class RevokeAgentResponse(_message.Message):
    __slots__ = ("agent_id", "name", "was_connected")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WAS_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    was_connected: bool
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., was_connected: _Optional[bool] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkInfo(_message.Message):
    __slots__ = ("work_name", "stage", "reason", "message", "status_timestamp", "started_at", "attempt", "pid", "process_exited", "agent_id", "agent_name", "gpu_indices", "url", "proxy_url")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PROCESS_EXITED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PROXY_URL_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    stage: str
    reason: str
    message: str
    status_timestamp: float
    started_at: float
    attempt: int
    pid: int
    process_exited: bool
    agent_id: str
    agent_name: str
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    url: str
    proxy_url: str
    def __init__(self, work_name: _Optional[str] = ..., stage: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., status_timestamp: _Optional[float] = ..., started_at: _Optional[float] = ..., attempt: _Optional[int] = ..., pid: _Optional[int] = ..., process_exited: _Optional[bool] = ..., agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., url: _Optional[str] = ..., proxy_url: _Optional[str] = ...) -> None: ...

class AgentRequestInfo(_message.Message):
    __slots__ = ("request_id", "engine", "engine_id", "state", "reason", "resources", "nodes", "work_name", "created_at", "where")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    engine: str
    engine_id: str
    state: str
    reason: str
    resources: str
    nodes: int
    work_name: str
    created_at: float
    where: str
    def __init__(self, request_id: _Optional[str] = ..., engine: _Optional[str] = ..., engine_id: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., resources: _Optional[str] = ..., nodes: _Optional[int] = ..., work_name: _Optional[str] = ..., created_at: _Optional[float] = ..., where: _Optional[str] = ...) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("agent_id", "name", "hostname", "is_local", "labels", "cpus_total", "cpus_used", "memory_total_bytes", "memory_used_bytes", "gpu_indices", "gpus_used", "work_names", "last_heartbeat_age_s", "state", "request")
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
    IS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CPUS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CPUS_USED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    GPUS_USED_FIELD_NUMBER: _ClassVar[int]
    WORK_NAMES_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_AGE_S_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    hostname: str
    is_local: bool
    labels: _containers.ScalarMap[str, str]
    cpus_total: float
    cpus_used: float
    memory_total_bytes: int
    memory_used_bytes: int
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    gpus_used: _containers.RepeatedScalarFieldContainer[int]
    work_names: _containers.RepeatedScalarFieldContainer[str]
    last_heartbeat_age_s: float
    state: str
    request: AgentRequestInfo
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., hostname: _Optional[str] = ..., is_local: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., cpus_total: _Optional[float] = ..., cpus_used: _Optional[float] = ..., memory_total_bytes: _Optional[int] = ..., memory_used_bytes: _Optional[int] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., gpus_used: _Optional[_Iterable[int]] = ..., work_names: _Optional[_Iterable[str]] = ..., last_heartbeat_age_s: _Optional[float] = ..., state: _Optional[str] = ..., request: _Optional[_Union[AgentRequestInfo, _Mapping]] = ...) -> None: ...

class AppStatus(_message.Message):
    __slots__ = ("stage", "app_path", "pid", "works", "agents")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    APP_PATH_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKS_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    app_path: str
    pid: int
    works: _containers.RepeatedCompositeFieldContainer[WorkInfo]
    agents: _containers.RepeatedCompositeFieldContainer[AgentInfo]
    def __init__(self, stage: _Optional[str] = ..., app_path: _Optional[str] = ..., pid: _Optional[int] = ..., works: _Optional[_Iterable[_Union[WorkInfo, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[AgentInfo, _Mapping]]] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ("full",)
    FULL_FIELD_NUMBER: _ClassVar[int]
    full: bool
    def __init__(self, full: _Optional[bool] = ...) -> None: ...

class AppState(_message.Message):
    __slots__ = ("state_json", "timestamp")
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    state_json: str
    timestamp: float
    def __init__(self, state_json: _Optional[str] = ..., timestamp: _Optional[float] = ...) -> None: ...

class WatchStateRequest(_message.Message):
    __slots__ = ("full", "interval_s")
    FULL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    full: bool
    interval_s: float
    def __init__(self, full: _Optional[bool] = ..., interval_s: _Optional[float] = ...) -> None: ...

class StreamLogsRequest(_message.Message):
    __slots__ = ("work_names", "tail", "since", "follow")
    WORK_NAMES_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    work_names: _containers.RepeatedScalarFieldContainer[str]
    tail: int
    since: float
    follow: bool
    def __init__(self, work_names: _Optional[_Iterable[str]] = ..., tail: _Optional[int] = ..., since: _Optional[float] = ..., follow: _Optional[bool] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("work_name", "timestamp", "stream", "text")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    timestamp: float
    stream: _events_pb2.LogLines.Stream
    text: str
    def __init__(self, work_name: _Optional[str] = ..., timestamp: _Optional[float] = ..., stream: _Optional[_Union[_events_pb2.LogLines.Stream, str]] = ..., text: _Optional[str] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("lines", "dropped")
    LINES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    dropped: int
    def __init__(self, lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ..., dropped: _Optional[int] = ...) -> None: ...

class StopAppRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class StopAppResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentList(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentInfo]
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentInfo, _Mapping]]] = ...) -> None: ...
