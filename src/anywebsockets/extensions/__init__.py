"""WebSocket extensions: the interfaces an extension implements.

The classes live in :mod:`anywebsockets.protocol.extensions`, next to the
engine that calls them; they are re-exported here for users who write or
configure extensions. :mod:`anywebsockets.extensions.permessage_deflate`
provides the permessage-deflate extension (RFC 7692).
"""

from __future__ import annotations

from ..protocol.extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionName,
    ExtensionParameter,
    ServerExtensionFactory,
)

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "ExtensionName",
    "ExtensionParameter",
    "ServerExtensionFactory",
]
