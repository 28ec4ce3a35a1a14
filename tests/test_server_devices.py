"""Devices: registration, token authentication, tokens stored only hashed, a shared store."""

from __future__ import annotations

import hashlib

import pytest

from prism.server.devices import Devices, token_hash
from prism.server.errors import UnauthorizedError
from prism.storage import SqliteStore


def test_a_registered_device_is_found_by_its_token_and_only_its_hash_is_kept() -> None:
    store = SqliteStore(":memory:")
    devices = Devices(store, shared=False)
    device_id, token = devices.register("kitchen watch")
    assert device_id.startswith("dev-") and len(token) >= 32
    assert devices.authenticate(token) == device_id
    assert store.devices() == {device_id: hashlib.sha256(token.encode()).hexdigest()}
    assert token_hash(token) == store.devices()[device_id]
    assert Devices(store, shared=False).authenticate(token) == device_id  # after a restart


@pytest.mark.parametrize("token", [None, "", "not-a-token"], ids=["none", "empty", "unknown"])
def test_missing_or_unknown_tokens_are_unauthorized(token: str | None) -> None:
    devices = Devices(SqliteStore(":memory:"), shared=False)
    devices.register("watch")
    with pytest.raises(UnauthorizedError, match="missing or unknown device token"):
        devices.authenticate(token)


def test_a_shared_store_finds_devices_registered_by_another_process() -> None:
    store = SqliteStore(":memory:")
    here, elsewhere = Devices(store, shared=True), Devices(store, shared=True)
    device_id, token = elsewhere.register("watch")
    assert here.authenticate(token) == device_id
    alone = Devices(SqliteStore(":memory:"), shared=False)
    alone.store.add_device("dev-x", token_hash("late"), "watch")  # not through this registry
    with pytest.raises(UnauthorizedError):
        alone.authenticate("late")
