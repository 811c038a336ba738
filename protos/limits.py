"""The limits both ends of the wire enforce, each named in the error that refuses what passes it.

Light to import (no grpc, no protobuf): the CLIs show the defaults in their help.
"""

from __future__ import annotations

MiB = 2**20

DEFAULT_MAX_ATTRIBUTE_BYTES = 16 * MiB
"""The largest JSON value a work's state attribute may take (``lightning-ctl run --max-attribute-size``)."""
MIN_MAX_ATTRIBUTE_BYTES = 1024
MAX_MAX_ATTRIBUTE_BYTES = 512 * MiB
"""The range ``--max-attribute-size`` accepts."""

MESSAGE_OVERHEAD_BYTES = 1 * MiB
"""Room for what travels with a value in one message (names, envelope, a status message)."""
BATCH_BYTES = 4 * MiB
"""Events are batched into messages up to this size (a single larger event travels alone)."""
DEFAULT_MAX_MESSAGE_BYTES = 64 * MiB
"""The gRPC receive limit when the attribute limit does not need more."""

MAX_STATUS_MESSAGE_CHARS = 1 * MiB
"""A status message or crash traceback longer than this is refused (the runner cuts its own at a quarter)."""
MAX_CALL_HASH_CHARS = 256
MAX_WORK_NAME_CHARS = 1024
MAX_AGENT_ID_CHARS = 128
MAX_AGENT_NAME_CHARS = 253
MAX_LABELS = 256
MAX_LABEL_CHARS = 1024
"""The longest label key or value."""
MAX_GPUS = 4096
MAX_RUNNING_WORKS = 100_000

MAX_BUNDLE_BYTES = 256 * MiB
"""The largest code bundle, compressed."""
MAX_BUNDLE_UNPACKED_BYTES = 1024 * MiB
"""The largest code bundle once unpacked (what its files hold together)."""
MAX_BUNDLE_FILES = 100_000
"""The most entries (files and folders) a code bundle may hold."""


def max_message_bytes(max_attribute_bytes: int) -> int:
    """The largest gRPC or socket message needed to carry one value of ``max_attribute_bytes``."""
    return max(DEFAULT_MAX_MESSAGE_BYTES, max_attribute_bytes + MESSAGE_OVERHEAD_BYTES)
