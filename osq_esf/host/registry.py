"""Extension bookkeeping and osquery's registration rules.

Sources: `ExtensionManagerInterface::registerExtension` /
`deregisterExtension` (extensions/interface.cpp), `RegistryFactory::
addBroadcast` (registry/registry_factory.cpp), `versionAtLeast`
(utils/info/version.cpp), `split` (utils/conversions/split.cpp).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from typing import Callable, Iterable, Mapping

from osquery.extensions.ttypes import InternalExtensionInfo

from .convert import INT32_MAX, INT32_MIN, c_strtoll
from .osquery_names import REGISTRIES

SDK_VERSION_CHANGES = ("1.7.7",)  # kSDKVersionChanges


class RegistrationError(Exception):
    """Registration refused; the message is what osquery answers."""


def _split_version(text: str) -> list[str]:
    # osquery::split(s, "."): drop empty pieces, trim each.
    return [piece.strip() for piece in text.split(".") if piece]


def _stoi(text: str) -> int:
    """std::stoi: ValueError for no digits, OverflowError beyond int32."""
    value = c_strtoll(text, 10, -(2**4096), 2**4096)
    if value is None:
        raise ValueError("stoi: no conversion: %r" % text)
    if not INT32_MIN <= value <= INT32_MAX:
        # std::out_of_range is not caught by versionAtLeast: osquery's thrift
        # handler turns it into a TApplicationException; so does ours.
        raise OverflowError("stoi: out of range: %r" % text)
    return value


def version_at_least(required: str, version: str) -> bool:
    """True if `version` >= `required`; "0.0.0" on either side passes."""
    if required == "0.0.0" or version == "0.0.0":
        return True
    required_parts = _split_version(required)
    for index, chunk in enumerate(_split_version(version)):
        if len(required_parts) <= index:
            return True
        try:
            have, want = _stoi(chunk), _stoi(required_parts[index])
        except ValueError:
            if chunk < required_parts[index]:
                return False
            continue
        if have < want:
            return False
        if have > want:
            return True
    return True


@dataclasses.dataclass
class ExtensionRecord:
    uuid: int
    info: InternalExtensionInfo
    broadcast: dict[str, dict[str, list[dict[str, str]]]]


class Registry:
    """Live extensions, their broadcast items and the core's own items.

    `attach(uuid, registry, item, routes)` is called for each item in osquery's
    order (registries sorted, items sorted); it raises RegistrationError to
    refuse. `detach(uuid, registry, item)` undoes one attach.
    """

    def __init__(
        self,
        core_items: Mapping[str, Iterable[str]],
        attach: Callable[[int, str, str, list], None],
        detach: Callable[[int, str, str], None],
    ):
        self._core = {registry: frozenset(items) for registry, items in core_items.items()}
        self._attach = attach
        self._detach = detach
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._extensions: dict[int, ExtensionRecord] = {}
        self._external: dict[tuple[str, str], int] = {}
        # Readers get an immutable copy swapped in after each change, so a
        # query holding the database never waits for a registration that is
        # itself waiting for the database.
        self._view: tuple[dict, dict] = ({}, {})
        self.last_error: tuple[str, str] | None = None  # (extension name, message)

    # -- queries (lock-free) ---------------------------------------------

    def extensions(self) -> dict[int, ExtensionRecord]:
        return self._view[0]

    def items(self, registry: str) -> dict[str, int]:
        """External items of `registry` -> owning uuid."""
        return {item: uuid for (reg, item), uuid in self._view[1].items() if reg == registry}

    def exists(self, registry: str, item: str) -> bool:
        return item in self._core.get(registry, ()) or (registry, item) in self._view[1]

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until `predicate()` holds after a registry change, or timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # -- changes ---------------------------------------------------------

    def register(self, info: InternalExtensionInfo, broadcast) -> int:
        """registerExtension; returns the new uuid or raises RegistrationError."""
        broadcast = {reg: dict(items or {}) for reg, items in (broadcast or {}).items()}
        with self._lock:
            try:
                uuid = self._register(info, broadcast)
            except RegistrationError as exc:
                self.last_error = (info.name or "", str(exc))
                raise
            self._publish()
            return uuid

    def _register(self, info, broadcast) -> int:
        if any(ext.info.name == info.name for ext in self._extensions.values()):
            raise RegistrationError("Duplicate extension registered")
        for change in SDK_VERSION_CHANGES:
            if not version_at_least(change, info.sdk_version or ""):
                raise RegistrationError("Incompatible extension SDK version")
        uuid = self._new_uuid()
        failure = self._add_broadcast(uuid, broadcast)
        if failure is not None:
            raise RegistrationError("Failed adding registry: " + failure)
        self._extensions[uuid] = ExtensionRecord(uuid, info, broadcast)
        return uuid

    def _new_uuid(self) -> int:
        # osquery: uint16(rand() + 1), redrawn while taken. 0 is the core.
        while True:
            uuid = random.randint(1, 65535)
            if uuid not in self._extensions:
                return uuid

    def _add_broadcast(self, uuid: int, broadcast) -> str | None:
        for registry in sorted(broadcast):
            for item in sorted(broadcast[registry]):
                if item in self._core.get(registry, ()) or (registry, item) in self._external:
                    return "Registry item %s conflicts with another item of the same name." % item
        added: list[tuple[str, str]] = []
        failure = None
        for registry in sorted(broadcast):
            if registry not in REGISTRIES:
                # osquery returns here without undoing registries it already
                # added; the host rolls back so registration is all-or-nothing.
                failure = "Unknown registry: " + registry
                break
            for item in sorted(broadcast[registry]):
                routes = broadcast[registry][item]
                try:
                    if registry == "table" and not routes:
                        raise RegistrationError("Invalid route info")  # TablePlugin::addExternal
                    self._attach(uuid, registry, item, list(routes or []))
                except RegistrationError as exc:
                    failure = str(exc)
                    break
                self._external[(registry, item)] = uuid
                added.append((registry, item))
            if failure is not None:
                break
        if failure is not None:
            for registry, item in added:
                self._detach(uuid, registry, item)
                del self._external[(registry, item)]
        return failure

    def deregister(self, uuid: int) -> ExtensionRecord | None:
        """Remove an extension and its items; None if the uuid is unknown."""
        with self._lock:
            record = self._extensions.pop(uuid, None)
            if record is None:
                return None
            for key in [key for key, owner in self._external.items() if owner == uuid]:
                self._detach(uuid, *key)
                del self._external[key]
            self._publish()
            return record

    def _publish(self) -> None:
        self._view = (dict(self._extensions), dict(self._external))
        self._changed.notify_all()
