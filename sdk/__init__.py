"""The lightning-ctl SDK: what app authors import to write flows and works.

Pure Python: importing it pulls in neither grpc nor protobuf, so ``python app.py`` and work processes start fast.
"""

from sdk._app import LightningApp
from sdk._build_config import BuildConfig
from sdk._cloud_compute import CloudCompute
from sdk._flow import LightningFlow
from sdk._pretty import pretty_state
from sdk._restart import RestartPolicy
from sdk._status import (
    AppStage,
    AppStatus,
    CacheCallsKeys,
    WorkFailureReasons,
    WorkStageStatus,
    WorkStatus,
    WorkStopReasons,
    make_status,
)
from sdk._structures import Dict, List
from sdk._work import LightningWork

__all__ = [
    "AppStage",
    "AppStatus",
    "BuildConfig",
    "CacheCallsKeys",
    "CloudCompute",
    "Dict",
    "LightningApp",
    "LightningFlow",
    "LightningWork",
    "List",
    "RestartPolicy",
    "WorkFailureReasons",
    "WorkStageStatus",
    "WorkStatus",
    "WorkStopReasons",
    "make_status",
    "pretty_state",
]
