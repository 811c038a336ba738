"""The lightning-ctl SDK: what app authors import to write flows and works.

Pure Python: importing it pulls in neither grpc nor protobuf, so ``python app.py`` and work processes start fast.
"""

from lightning_ctl.sdk._api import ApiRequest, Delete, Get, HTTPException, Post, Put
from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._app_state import AppState
from lightning_ctl.sdk._build_config import BuildConfig
from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._drive import Drive
from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._frontend import Frontend, StaticWebFrontend, StreamlitFrontend
from lightning_ctl.sdk._path import Path
from lightning_ctl.sdk._payload import Payload
from lightning_ctl.sdk._pretty import pretty_state
from lightning_ctl.sdk._restart import RestartPolicy
from lightning_ctl.sdk._status import (
    AppStage,
    AppStatus,
    CacheCallsKeys,
    WorkFailureReasons,
    WorkStageStatus,
    WorkStatus,
    WorkStopReasons,
    make_status,
)
from lightning_ctl.sdk._structures import Dict, List
from lightning_ctl.sdk._work import LightningWork

__all__ = [
    "ApiRequest",
    "AppStage",
    "AppState",
    "AppStatus",
    "BuildConfig",
    "CacheCallsKeys",
    "CloudCompute",
    "Delete",
    "Dict",
    "Drive",
    "Frontend",
    "Get",
    "HTTPException",
    "LightningApp",
    "LightningFlow",
    "LightningWork",
    "List",
    "Path",
    "Payload",
    "Post",
    "Put",
    "RestartPolicy",
    "StaticWebFrontend",
    "StreamlitFrontend",
    "WorkFailureReasons",
    "WorkStageStatus",
    "WorkStatus",
    "WorkStopReasons",
    "make_status",
    "pretty_state",
]
