"""Commands for agents and work processes.

``sdk._events`` commands (and the store's UploadRequested) to and from protobuf.
"""

from __future__ import annotations

from lightning_ctl.protos.codec._storage import upload_requested_from_pb, upload_requested_to_pb
from lightning_ctl.protos.codec._values import CodecError, dumps, loads
from lightning_ctl.protos.lightning.v1 import agent_pb2, events_pb2
from lightning_ctl.sdk._agent_messages import OpenTunnel
from lightning_ctl.sdk._events import Command, LaunchWork, RunCall, StopWork, UpdateVars
from lightning_ctl.sdk._storage_types import UploadRequested


def run_call_to_pb(call: RunCall) -> events_pb2.RunCall:
    """A RunCall as protobuf."""
    return events_pb2.RunCall(
        work_name=call.work_name,
        attempt=call.attempt,
        call_hash=call.call_hash,
        args_json=dumps(call.args),
        kwargs_json=dumps(call.kwargs),
        vars_json=dumps(call.vars) if call.vars else "",
        command_seq=call.command_seq,
    )


def run_call_from_pb(pb: events_pb2.RunCall) -> RunCall:
    """A RunCall from protobuf."""
    return RunCall(
        pb.work_name,
        pb.attempt,
        pb.call_hash,
        loads(pb.args_json, "call.args_json", []),
        loads(pb.kwargs_json, "call.kwargs_json", {}),
        loads(pb.vars_json, "call.vars_json", {}),
        pb.command_seq,
    )


def update_vars_to_pb(update: UpdateVars) -> events_pb2.UpdateVars:
    """An UpdateVars as protobuf."""
    return events_pb2.UpdateVars(work_name=update.work_name, attempt=update.attempt, vars_json=dumps(update.vars),
                                 command_seq=update.command_seq)


def update_vars_from_pb(pb: events_pb2.UpdateVars) -> UpdateVars:
    """An UpdateVars from protobuf."""
    return UpdateVars(pb.work_name, pb.attempt, loads(pb.vars_json, "update.vars_json", {}), pb.command_seq)


def command_to_pb(command: Command | UploadRequested | OpenTunnel) -> agent_pb2.Command:
    """A command for an agent as protobuf."""
    if isinstance(command, OpenTunnel):
        return agent_pb2.Command(tunnel=agent_pb2.OpenTunnel(tunnel_id=command.tunnel_id, work_name=command.work_name,
                                                             attempt=command.attempt))
    if isinstance(command, UploadRequested):
        return agent_pb2.Command(upload=upload_requested_to_pb(command))
    if isinstance(command, RunCall):
        return agent_pb2.Command(call=run_call_to_pb(command))
    if isinstance(command, UpdateVars):
        return agent_pb2.Command(update=update_vars_to_pb(command))
    if isinstance(command, StopWork):
        return agent_pb2.Command(
            stop=agent_pb2.StopWork(
                work_name=command.work_name, attempt=command.attempt, reason=command.reason, grace_s=command.grace_s
            )
        )
    if isinstance(command, LaunchWork):
        return agent_pb2.Command(
            launch=agent_pb2.LaunchWork(
                work_name=command.work_name,
                attempt=command.attempt,
                app_path=command.app_path,
                vars_json=dumps(command.vars),
                env=command.env,
                start_action=command.start_action,
                stop_grace_s=command.stop_grace_s,
                work_class=command.work_class,
                init_args_json=dumps(command.init_args) if command.init_args is not None else "",
                gpu_indices=list(command.gpu_indices),
                bundle_digest=command.bundle_digest,
                app_relpath=command.app_relpath,
                api_credential=command.api_credential,
                port=command.port,
                readiness_path=command.readiness_path,
                rendezvous=command.rendezvous,
            )
        )
    raise TypeError(f"unknown command {type(command).__name__}")  # pragma: no cover


def command_from_pb(pb: agent_pb2.Command) -> Command | UploadRequested | OpenTunnel:
    """A command for an agent from protobuf; raises CodecError naming the field at fault."""
    kind = pb.WhichOneof("kind")
    if kind == "tunnel":
        return OpenTunnel(pb.tunnel.tunnel_id, pb.tunnel.work_name, pb.tunnel.attempt)
    if kind == "upload":
        return upload_requested_from_pb(pb.upload)
    if kind == "call":
        return run_call_from_pb(pb.call)
    if kind == "update":
        return update_vars_from_pb(pb.update)
    if kind == "stop":
        return StopWork(pb.stop.work_name, pb.stop.attempt, pb.stop.reason, pb.stop.grace_s)
    if kind == "launch":
        launch = pb.launch
        return LaunchWork(
            work_name=launch.work_name,
            attempt=launch.attempt,
            app_path=launch.app_path,
            vars=loads(launch.vars_json, "launch.vars_json", {}),
            env=dict(launch.env),
            start_action=launch.start_action,
            stop_grace_s=launch.stop_grace_s,
            work_class=launch.work_class,
            init_args=loads(launch.init_args_json, "launch.init_args_json", None),
            gpu_indices=tuple(launch.gpu_indices),
            bundle_digest=launch.bundle_digest,
            app_relpath=launch.app_relpath,
            api_credential=launch.api_credential,
            port=launch.port,
            readiness_path=launch.readiness_path,
            rendezvous=launch.rendezvous,
        )
    raise CodecError("command: missing kind")
