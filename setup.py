"""Build the optional C accelerator; fall back to pure Python when it cannot be built."""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Build extensions, but never fail the installation because of them."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers, ...
            print(f"anywebsockets: C accelerator not built ({exc}); using pure Python")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            if os.environ.get("ANYWEBSOCKETS_REQUIRE_SPEEDUPS"):
                raise
            print(f"anywebsockets: C accelerator not built ({exc}); using pure Python")


setup(
    ext_modules=[
        Extension(
            "anywebsockets.protocol._speedups",
            sources=["src/anywebsockets/protocol/_speedups.c"],
            optional=not os.environ.get("ANYWEBSOCKETS_REQUIRE_SPEEDUPS"),
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
