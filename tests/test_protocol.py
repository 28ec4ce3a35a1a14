"""The protocol package: its public names, and that it stands alone (the watch clients
use it without the server)."""

from __future__ import annotations

import subprocess
import sys

import prism.protocol


def test_the_package_exports_what_it_lists() -> None:
    assert all(hasattr(prism.protocol, name) for name in prism.protocol.__all__)
    assert {"encode_frame", "decode_frame", "parse_control", "SequenceChecker"} <= set(
        prism.protocol.__all__
    )


def test_the_protocol_and_the_watch_clients_do_not_import_the_server() -> None:
    code = (
        "import sys, prism.protocol, prism.watch.replay, prism.watch.session; "
        "print(sorted(m for m in sys.modules if m.startswith(('prism.server', 'fastapi'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
