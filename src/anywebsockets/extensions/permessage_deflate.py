"""The permessage-deflate extension (RFC 7692).

Pass a :class:`ClientPerMessageDeflateFactory` in ``extensions=`` to
:func:`~anywebsockets.connect`, or a :class:`ServerPerMessageDeflateFactory`
to :func:`~anywebsockets.serve`, to choose the parameters yourself;
``compression="deflate"``, the default, adds one with settings that bound
memory per connection. The implementation lives in
:mod:`anywebsockets.protocol.permessage_deflate`.
"""

from __future__ import annotations

from ..protocol.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)

__all__ = [
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]
