"""Tests for anywebsockets.protocol.extensions: the extension interfaces (RFC 6455, section 9)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

import anywebsockets.extensions
from anywebsockets.exceptions import NegotiationError
from anywebsockets.protocol import extensions
from anywebsockets.protocol.extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from anywebsockets.protocol.frames import Frame, Opcode

FRAME = Frame(Opcode.TEXT, b"spam")


def test_extension_methods_are_abstract() -> None:
    """Each base method raises NotImplementedError until a subclass overrides it."""
    extension = Extension()
    with pytest.raises(NotImplementedError):
        extension.decode(FRAME)
    with pytest.raises(NotImplementedError):
        extension.decode(FRAME, max_size=10)
    with pytest.raises(NotImplementedError):
        extension.encode(FRAME)


def test_client_factory_methods_are_abstract() -> None:
    """The client factory's methods raise NotImplementedError in the base class."""
    factory = ClientExtensionFactory()
    with pytest.raises(NotImplementedError):
        factory.get_request_params()
    with pytest.raises(NotImplementedError):
        factory.process_response_params([], [])


def test_server_factory_methods_are_abstract() -> None:
    """The server factory's method raises NotImplementedError in the base class."""
    with pytest.raises(NotImplementedError):
        ServerExtensionFactory().process_request_params([], [])


class FlipRsv2(Extension):
    """A toy extension that marks outgoing frames with RSV2 and clears it on the way in."""

    name = "x-flip-rsv2"

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return dataclasses.replace(frame, rsv2=False)

    def encode(self, frame: Frame) -> Frame:
        return dataclasses.replace(frame, rsv2=True)


class FlipRsv2Client(ClientExtensionFactory):
    name = "x-flip-rsv2"

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        return [("mode", "on")]

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        if list(params) != [("mode", "on")]:
            raise NegotiationError("unexpected parameters")
        return FlipRsv2()


class FlipRsv2Server(ServerExtensionFactory):
    name = "x-flip-rsv2"

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        if any(extension.name == self.name for extension in accepted_extensions):
            raise NegotiationError("already accepted")
        return list(params), FlipRsv2()


def test_subclasses_negotiate_and_transform_frames() -> None:
    """A subclass that overrides every method works through the base interfaces."""
    client: ClientExtensionFactory = FlipRsv2Client()
    server: ServerExtensionFactory = FlipRsv2Server()
    response, server_extension = server.process_request_params(client.get_request_params(), [])
    client_extension = client.process_response_params(response, [])
    sent = client_extension.encode(FRAME)
    assert sent.rsv2
    assert server_extension.decode(sent, max_size=100) == FRAME
    with pytest.raises(NegotiationError):
        server.process_request_params([], [server_extension])
    with pytest.raises(NegotiationError):
        client.process_response_params([("mode", "off")], [])


def test_public_package_reexports_the_interfaces() -> None:
    """anywebsockets.extensions exposes the very classes the engine uses."""
    for name in extensions.__all__:
        assert getattr(anywebsockets.extensions, name) is getattr(extensions, name)
    assert set(anywebsockets.extensions.__all__) == set(extensions.__all__)
