from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_PATH: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_PAYLOAD: _ClassVar[ArtifactKind]
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_PATH: ArtifactKind
ARTIFACT_KIND_PAYLOAD: ArtifactKind

class FileEntry(_message.Message):
    __slots__ = ("path", "digest", "size", "mode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    digest: str
    size: int
    mode: int
    def __init__(self, path: _Optional[str] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ...) -> None: ...

class StatBlobRequest(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

class BlobStatus(_message.Message):
    __slots__ = ("stored", "partial_bytes")
    STORED_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    stored: bool
    partial_bytes: int
    def __init__(self, stored: _Optional[bool] = ..., partial_bytes: _Optional[int] = ...) -> None: ...

class BlobUpload(_message.Message):
    __slots__ = ("digest", "size", "offset", "work_name", "name", "data")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size: int
    offset: int
    work_name: str
    name: str
    data: bytes
    def __init__(self, digest: _Optional[str] = ..., size: _Optional[int] = ..., offset: _Optional[int] = ..., work_name: _Optional[str] = ..., name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class DownloadBlobRequest(_message.Message):
    __slots__ = ("digest", "offset")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    digest: str
    offset: int
    def __init__(self, digest: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("work_name", "kind", "name", "is_dir", "files", "persisted_at", "dirs")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    PERSISTED_AT_FIELD_NUMBER: _ClassVar[int]
    DIRS_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    kind: ArtifactKind
    name: str
    is_dir: bool
    files: _containers.RepeatedCompositeFieldContainer[FileEntry]
    persisted_at: float
    dirs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, work_name: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., is_dir: _Optional[bool] = ..., files: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., persisted_at: _Optional[float] = ..., dirs: _Optional[_Iterable[str]] = ...) -> None: ...

class CommitArtifactRequest(_message.Message):
    __slots__ = ("artifact", "problem", "request_id")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    artifact: Artifact
    problem: str
    request_id: str
    def __init__(self, artifact: _Optional[_Union[Artifact, _Mapping]] = ..., problem: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CommitArtifactReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResolveArtifactRequest(_message.Message):
    __slots__ = ("work_name", "kind", "name", "consumer")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    kind: ArtifactKind
    name: str
    consumer: str
    def __init__(self, work_name: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., consumer: _Optional[str] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("work_name",)
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    def __init__(self, work_name: _Optional[str] = ...) -> None: ...

class ArtifactList(_message.Message):
    __slots__ = ("artifacts",)
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    def __init__(self, artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ...) -> None: ...

class DriveFile(_message.Message):
    __slots__ = ("drive_id", "component", "file", "put_at")
    DRIVE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    PUT_AT_FIELD_NUMBER: _ClassVar[int]
    drive_id: str
    component: str
    file: FileEntry
    put_at: float
    def __init__(self, drive_id: _Optional[str] = ..., component: _Optional[str] = ..., file: _Optional[_Union[FileEntry, _Mapping]] = ..., put_at: _Optional[float] = ...) -> None: ...

class PutDriveFilesRequest(_message.Message):
    __slots__ = ("drive_id", "component", "path", "files", "allow_duplicates")
    DRIVE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    drive_id: str
    component: str
    path: str
    files: _containers.RepeatedCompositeFieldContainer[FileEntry]
    allow_duplicates: bool
    def __init__(self, drive_id: _Optional[str] = ..., component: _Optional[str] = ..., path: _Optional[str] = ..., files: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., allow_duplicates: _Optional[bool] = ...) -> None: ...

class PutDriveFilesReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDriveRequest(_message.Message):
    __slots__ = ("drive_id", "component", "path")
    DRIVE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    drive_id: str
    component: str
    path: str
    def __init__(self, drive_id: _Optional[str] = ..., component: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class DriveFiles(_message.Message):
    __slots__ = ("files", "drive_ids")
    FILES_FIELD_NUMBER: _ClassVar[int]
    DRIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[DriveFile]
    drive_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, files: _Optional[_Iterable[_Union[DriveFile, _Mapping]]] = ..., drive_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ResolveDriveRequest(_message.Message):
    __slots__ = ("drive_id", "component", "path", "timeout_s")
    DRIVE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    drive_id: str
    component: str
    path: str
    timeout_s: float
    def __init__(self, drive_id: _Optional[str] = ..., component: _Optional[str] = ..., path: _Optional[str] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class DeleteDriveFilesRequest(_message.Message):
    __slots__ = ("drive_id", "component", "path")
    DRIVE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    drive_id: str
    component: str
    path: str
    def __init__(self, drive_id: _Optional[str] = ..., component: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class DeleteDriveFilesReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UploadArtifact(_message.Message):
    __slots__ = ("work_name", "attempt", "name", "request_id")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    attempt: int
    name: str
    request_id: str
    def __init__(self, work_name: _Optional[str] = ..., attempt: _Optional[int] = ..., name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class StorageRequest(_message.Message):
    __slots__ = ("request_id", "persist", "fetch", "resolve", "drive_put", "drive_list", "drive_get", "drive_delete")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    FETCH_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_FIELD_NUMBER: _ClassVar[int]
    DRIVE_PUT_FIELD_NUMBER: _ClassVar[int]
    DRIVE_LIST_FIELD_NUMBER: _ClassVar[int]
    DRIVE_GET_FIELD_NUMBER: _ClassVar[int]
    DRIVE_DELETE_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    persist: PersistArtifacts
    fetch: FetchArtifact
    resolve: ResolveArtifactRequest
    drive_put: DrivePut
    drive_list: ListDriveRequest
    drive_get: DriveGet
    drive_delete: DeleteDriveFilesRequest
    def __init__(self, request_id: _Optional[int] = ..., persist: _Optional[_Union[PersistArtifacts, _Mapping]] = ..., fetch: _Optional[_Union[FetchArtifact, _Mapping]] = ..., resolve: _Optional[_Union[ResolveArtifactRequest, _Mapping]] = ..., drive_put: _Optional[_Union[DrivePut, _Mapping]] = ..., drive_list: _Optional[_Union[ListDriveRequest, _Mapping]] = ..., drive_get: _Optional[_Union[DriveGet, _Mapping]] = ..., drive_delete: _Optional[_Union[DeleteDriveFilesRequest, _Mapping]] = ...) -> None: ...

class PersistItem(_message.Message):
    __slots__ = ("kind", "name", "local_path")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PATH_FIELD_NUMBER: _ClassVar[int]
    kind: ArtifactKind
    name: str
    local_path: str
    def __init__(self, kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., local_path: _Optional[str] = ...) -> None: ...

class PersistArtifacts(_message.Message):
    __slots__ = ("work_name", "items")
    WORK_NAME_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    work_name: str
    items: _containers.RepeatedCompositeFieldContainer[PersistItem]
    def __init__(self, work_name: _Optional[str] = ..., items: _Optional[_Iterable[_Union[PersistItem, _Mapping]]] = ...) -> None: ...

class FetchArtifact(_message.Message):
    __slots__ = ("origin", "kind", "name", "destination", "consumer")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    origin: str
    kind: ArtifactKind
    name: str
    destination: str
    consumer: str
    def __init__(self, origin: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., destination: _Optional[str] = ..., consumer: _Optional[str] = ...) -> None: ...

class DrivePut(_message.Message):
    __slots__ = ("drive_id", "component", "local_path", "path", "allow_duplicates")
    DRIVE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PATH_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    drive_id: str
    component: str
    local_path: str
    path: str
    allow_duplicates: bool
    def __init__(self, drive_id: _Optional[str] = ..., component: _Optional[str] = ..., local_path: _Optional[str] = ..., path: _Optional[str] = ..., allow_duplicates: _Optional[bool] = ...) -> None: ...

class DriveGet(_message.Message):
    __slots__ = ("drive", "destination", "overwrite")
    DRIVE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    drive: ResolveDriveRequest
    destination: str
    overwrite: bool
    def __init__(self, drive: _Optional[_Union[ResolveDriveRequest, _Mapping]] = ..., destination: _Optional[str] = ..., overwrite: _Optional[bool] = ...) -> None: ...

class PersistOutcome(_message.Message):
    __slots__ = ("kind", "name", "persisted", "problem")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERSISTED_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    kind: ArtifactKind
    name: str
    persisted: bool
    problem: str
    def __init__(self, kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., persisted: _Optional[bool] = ..., problem: _Optional[str] = ...) -> None: ...

class StorageFailure(_message.Message):
    __slots__ = ("kind", "message")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[StorageFailure.Kind]
        KIND_NOT_FOUND: _ClassVar[StorageFailure.Kind]
        KIND_EXISTS: _ClassVar[StorageFailure.Kind]
        KIND_INVALID: _ClassVar[StorageFailure.Kind]
        KIND_TRANSFER: _ClassVar[StorageFailure.Kind]
    KIND_UNSPECIFIED: StorageFailure.Kind
    KIND_NOT_FOUND: StorageFailure.Kind
    KIND_EXISTS: StorageFailure.Kind
    KIND_INVALID: StorageFailure.Kind
    KIND_TRANSFER: StorageFailure.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: StorageFailure.Kind
    message: str
    def __init__(self, kind: _Optional[_Union[StorageFailure.Kind, str]] = ..., message: _Optional[str] = ...) -> None: ...

class StorageReply(_message.Message):
    __slots__ = ("request_id", "failure", "persisted", "exists", "names")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    PERSISTED_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    failure: StorageFailure
    persisted: _containers.RepeatedCompositeFieldContainer[PersistOutcome]
    exists: bool
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[int] = ..., failure: _Optional[_Union[StorageFailure, _Mapping]] = ..., persisted: _Optional[_Iterable[_Union[PersistOutcome, _Mapping]]] = ..., exists: _Optional[bool] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...
