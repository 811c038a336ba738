"""The converter between AppService's protobuf messages and ``controlplane.app_view``'s plain types.

The servicer and ``client.py`` both use it, so the two sides never disagree. (``protos/codec`` cannot hold it:
``protos`` may import only the SDK, and these types belong to the control plane.) Every ``x_to_pb`` has an
``x_from_pb`` and a round-trip test.
"""

from __future__ import annotations

from lightning_ctl.controlplane.api.app_view import (
    AgentView,
    AppView,
    IssuedJoinToken,
    LogBatch,
    LogLine,
    RequestView,
    RevokedAgent,
    WorkView,
)
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import app_pb2


def work_to_pb(work: WorkView) -> app_pb2.WorkInfo:
    """A WorkView as protobuf."""
    return app_pb2.WorkInfo(
        work_name=work.work_name,
        stage=work.stage,
        reason=work.reason,
        message=work.message,
        status_timestamp=work.status_timestamp,
        started_at=work.started_at,
        attempt=work.attempt,
        pid=work.pid,
        process_exited=work.process_exited,
        agent_id=work.agent_id,
        agent_name=work.agent_name,
        gpu_indices=list(work.gpu_indices),
        url=work.url,
        proxy_url=work.proxy_url,
    )


def work_from_pb(pb: app_pb2.WorkInfo) -> WorkView:
    """A WorkView from protobuf."""
    return WorkView(
        work_name=pb.work_name,
        stage=pb.stage,
        reason=pb.reason,
        message=pb.message,
        status_timestamp=pb.status_timestamp,
        started_at=pb.started_at,
        attempt=pb.attempt,
        pid=pb.pid,
        process_exited=pb.process_exited,
        agent_id=pb.agent_id,
        agent_name=pb.agent_name,
        gpu_indices=tuple(pb.gpu_indices),
        url=pb.url,
        proxy_url=pb.proxy_url,
    )


def request_to_pb(request: RequestView) -> app_pb2.AgentRequestInfo:
    """A RequestView as protobuf."""
    return app_pb2.AgentRequestInfo(
        request_id=request.request_id,
        engine=request.engine,
        engine_id=request.engine_id,
        state=request.state,
        reason=request.reason,
        resources=request.resources,
        nodes=request.nodes,
        work_name=request.work_name,
        created_at=request.created_at,
        where=request.where,
    )


def request_from_pb(pb: app_pb2.AgentRequestInfo) -> RequestView:
    """A RequestView from protobuf."""
    return RequestView(
        request_id=pb.request_id,
        engine=pb.engine,
        engine_id=pb.engine_id,
        state=pb.state,
        reason=pb.reason,
        resources=pb.resources,
        nodes=pb.nodes,
        work_name=pb.work_name,
        created_at=pb.created_at,
        where=pb.where,
    )


def agent_to_pb(agent: AgentView) -> app_pb2.AgentInfo:
    """An AgentView as protobuf."""
    return app_pb2.AgentInfo(
        request=request_to_pb(agent.request) if agent.request else None,
        agent_id=agent.agent_id,
        name=agent.name,
        hostname=agent.hostname,
        is_local=agent.is_local,
        labels=agent.labels,
        cpus_total=agent.cpus_total,
        cpus_used=agent.cpus_used,
        memory_total_bytes=agent.memory_total_bytes,
        memory_used_bytes=agent.memory_used_bytes,
        gpu_indices=list(agent.gpu_indices),
        gpus_used=list(agent.gpus_used),
        work_names=list(agent.work_names),
        last_heartbeat_age_s=agent.last_heartbeat_age_s,
        state=agent.state,
    )


def agent_from_pb(pb: app_pb2.AgentInfo) -> AgentView:
    """An AgentView from protobuf."""
    return AgentView(
        agent_id=pb.agent_id,
        name=pb.name,
        hostname=pb.hostname,
        is_local=pb.is_local,
        labels=dict(pb.labels),
        cpus_total=pb.cpus_total,
        cpus_used=pb.cpus_used,
        memory_total_bytes=pb.memory_total_bytes,
        memory_used_bytes=pb.memory_used_bytes,
        gpu_indices=tuple(pb.gpu_indices),
        gpus_used=tuple(pb.gpus_used),
        work_names=tuple(pb.work_names),
        last_heartbeat_age_s=pb.last_heartbeat_age_s,
        state=pb.state,
        request=request_from_pb(pb.request) if pb.HasField("request") else None,
    )


def app_to_pb(app: AppView) -> app_pb2.AppStatus:
    """An AppView as protobuf."""
    return app_pb2.AppStatus(
        stage=app.stage,
        app_path=app.app_path,
        pid=app.pid,
        works=[work_to_pb(w) for w in app.works],
        agents=[agent_to_pb(a) for a in app.agents],
    )


def app_from_pb(pb: app_pb2.AppStatus) -> AppView:
    """An AppView from protobuf."""
    return AppView(
        stage=pb.stage,
        app_path=pb.app_path,
        pid=pb.pid,
        works=tuple(work_from_pb(w) for w in pb.works),
        agents=tuple(agent_from_pb(a) for a in pb.agents),
    )


def log_batch_to_pb(batch: LogBatch) -> app_pb2.LogBatch:
    """A LogBatch as protobuf."""
    return app_pb2.LogBatch(
        lines=[
            app_pb2.LogLine(
                work_name=line.work_name,
                timestamp=line.timestamp,
                stream=codec.STREAMS[line.stream],
                text=line.text,
            )
            for line in batch.lines
        ],
        dropped=batch.dropped,
    )


def log_batch_from_pb(pb: app_pb2.LogBatch) -> LogBatch:
    """A LogBatch from protobuf (an unknown stream reads as stdout)."""
    return LogBatch(
        tuple(
            LogLine(line.work_name, line.timestamp, codec.STREAM_NAMES.get(line.stream, "stdout"), line.text)
            for line in pb.lines
        ),
        pb.dropped,
    )


def join_token_to_pb(issued: IssuedJoinToken) -> app_pb2.JoinToken:
    """An IssuedJoinToken as protobuf."""
    return app_pb2.JoinToken(token=issued.token, token_id=issued.token_id, expires_at=issued.expires_at or 0.0)


def join_token_from_pb(pb: app_pb2.JoinToken) -> IssuedJoinToken:
    """An IssuedJoinToken from protobuf."""
    return IssuedJoinToken(pb.token, pb.token_id, pb.expires_at or None)


def revoked_to_pb(revoked: RevokedAgent) -> app_pb2.RevokeAgentResponse:
    """A RevokedAgent as protobuf."""
    return app_pb2.RevokeAgentResponse(agent_id=revoked.agent_id, name=revoked.name,
                                       was_connected=revoked.was_connected)


def revoked_from_pb(pb: app_pb2.RevokeAgentResponse) -> RevokedAgent:
    """A RevokedAgent from protobuf."""
    return RevokedAgent(pb.agent_id, pb.name, pb.was_connected)
