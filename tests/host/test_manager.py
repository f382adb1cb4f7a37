"""The ExtensionManager service over the real socket: registration rules and manager methods."""

from __future__ import annotations

import apsw
import pytest
from osquery.extensions.ttypes import InternalExtensionInfo

from osq_esf.host.protocol import manager_client
from osq_esf.host.registry import version_at_least
from tests.host.raw_extension import column

TABLE = [column("a", "TEXT")]


def info(name="ext", sdk="5.0.0"):
    return InternalExtensionInfo(name, "1.0", sdk, "1.8.0")


@pytest.fixture
def client(host):
    with manager_client(host.socket_path, 5) as c:
        yield c


def refused(status) -> str:
    assert (status.code, status.uuid) == (1, 0)
    return status.message


def test_ping_is_pong_from_uuid_zero(client):
    status = client.ping()
    assert (status.code, status.message, status.uuid) == (0, "pong", 0)


def test_register_success_and_listing(client, host):
    status = client.registerExtension(info("one"), {"table": {"t_one": TABLE}})
    assert (status.code, status.message) == (0, "OK")
    assert 1 <= status.uuid <= 65535
    assert client.extensions() == {status.uuid: info("one")}
    assert host.table_names() == ["osquery_extensions", "t_one", "time"]


def test_duplicate_name_refused(client):
    assert client.registerExtension(info("dup"), {}).code == 0
    assert refused(client.registerExtension(info("dup"), {})) == "Duplicate extension registered"


@pytest.mark.parametrize("sdk, ok", [
    ("", True), ("0.0.0", True), ("1.7.7", True), ("3.0.7", True), ("1.8", True),
    ("1.7.6", False), ("1.6.9", False), ("0.9", False), ("1.7", True),
])
def test_sdk_version_floor(client, sdk, ok):
    status = client.registerExtension(info("v", sdk), {})
    if ok:
        assert status.code == 0
    else:
        assert refused(status) == "Incompatible extension SDK version"


def test_version_at_least_matches_osquery():
    assert version_at_least("1.7.7", "1.7.7")
    assert version_at_least("1.7.7", "1.10.0")  # numeric, not lexical
    assert not version_at_least("1.7.7", "1.7.6")
    assert version_at_least("1.7.7", "1.7.7-rc1")  # stoi("7-rc1") == 7
    assert version_at_least("1.7.7", "x.y.z")  # non-numeric chunks compare as text


def test_out_of_range_sdk_version_is_an_application_error(client):
    from thrift.Thrift import TApplicationException

    with pytest.raises(TApplicationException):
        client.registerExtension(info("big", "99999999999.0.0"), {})
    assert client.ping().code == 0  # the host survived


@pytest.mark.parametrize("registry, message", [
    ({"bogus": {"x": TABLE}}, "Failed adding registry: Unknown registry: bogus"),
    ({"table": {"time": TABLE}},
     "Failed adding registry: Registry item time conflicts with another item of the same name."),
    ({"table": {"es_process_events": TABLE}},
     "Failed adding registry: Registry item es_process_events conflicts with another item of the "
     "same name."),
    ({"logger": {"filesystem": []}},
     "Failed adding registry: Registry item filesystem conflicts with another item of the same "
     "name."),
    ({"table": {"empty": []}}, "Failed adding registry: Invalid route info"),
    ({"table": {"no_columns": [{"id": "attributes", "attributes": "0"}]}},
     "Failed adding registry: SQLITE_ERROR"),
    ({"table": {"dup_columns": TABLE + TABLE}}, "Failed adding registry: SQLITE_ERROR"),
    ({"table": {"x; DROP TABLE time": TABLE}}, "Failed adding registry: SQLITE_ERROR"),
])
def test_registration_refusals(client, registry, message):
    assert refused(client.registerExtension(info(), registry)) == message
    assert client.extensions() == {}


def test_conflict_with_another_extensions_table(client):
    assert client.registerExtension(info("first"), {"table": {"shared": TABLE}}).code == 0
    assert refused(client.registerExtension(info("second"), {"table": {"shared": TABLE}})) == (
        "Failed adding registry: Registry item shared conflicts with another item of the same name.")


def test_registration_is_all_or_nothing(client, host):
    broadcast = {"table": {"good_a": TABLE, "good_z": TABLE, "bad_m": []},
                 "zz_unknown": {"x": []}}
    assert refused(client.registerExtension(info(), broadcast)).endswith("Invalid route info")
    assert host.table_names() == ["osquery_extensions", "time"]
    with pytest.raises(apsw.SQLError, match="no such table: good_a"):
        host.query("SELECT * FROM good_a")
    # Unknown registry sorted after a valid one: the valid one is rolled back.
    broadcast = {"table": {"good_a": TABLE}, "zz_unknown": {"x": []}}
    assert refused(client.registerExtension(info(), broadcast)).endswith("Unknown registry: zz_unknown")
    assert host.table_names() == ["osquery_extensions", "time"]
    assert client.registerExtension(info(), {"table": {"good_a": TABLE}}).code == 0


def test_uuids_are_unique_and_in_range(client):
    uuids = {client.registerExtension(info("e%d" % i), {}).uuid for i in range(200)}
    assert len(uuids) == 200 and all(1 <= u <= 65535 for u in uuids)


def test_deregister(client, host):
    uuid = client.registerExtension(info(), {"table": {"t_gone": TABLE}}).uuid
    status = client.deregisterExtension(uuid)
    assert (status.code, status.message) == (0, "OK")
    assert client.extensions() == {} and "t_gone" not in host.table_names()
    assert refused(client.deregisterExtension(uuid)) == "No extension UUID found"
    # The name and the table name are free again.
    assert client.registerExtension(info(), {"table": {"t_gone": TABLE}}).code == 0


def test_options_flags_and_custom_options(client, host):
    options = client.options()
    assert options["extensions_socket"].value == host.socket_path
    assert options["extensions_socket"].default_value == "/var/osquery/osquery.em"
    assert (options["extensions_interval"].value, options["extensions_interval"].type) == ("60", "string")
    assert (options["extensions_timeout"].value, options["thrift_timeout"].type) == ("1", "uint32")
    assert (options["disable_endpointsecurity"].value, options["disable_endpointsecurity"].type) == (
        "true", "bool")
    assert "custom_osq_esf_config" not in options
    host.set_option("custom_osq_esf_config", "/etc/osq-esf.toml")
    option = client.options()["custom_osq_esf_config"]
    assert (option.value, option.default_value, option.type) == ("/etc/osq-esf.toml", "", "string")
    host.set_option("custom_osq_esf_config", "/other.toml")
    assert client.options()["custom_osq_esf_config"].value == "/other.toml"
    with pytest.raises(KeyError):
        host.set_option("not_a_flag", "x")


def test_query_returns_strings_with_osquery_casts(client):
    response = client.query("SELECT 1 AS i, 2.5 AS d, 3.0 AS w, 1e20 AS e, NULL AS n, 'x' AS s")
    assert response.status.code == 0
    assert response.response == [{"i": "1", "d": "2.5", "w": "3.0", "e": "1e+20.0", "n": "",
                                  "s": "x"}]
    response = client.query("SELECT 1 AS a; SELECT 2 AS a")  # every statement's rows
    assert response.response == [{"a": "1"}, {"a": "2"}]


def test_query_error_is_code_one_with_sqlite_message(client):
    response = client.query("SELECT * FROM nope")
    assert (response.status.code, response.status.message) == (1, "no such table: nope")
    response = client.query("ATTACH DATABASE '/tmp/x.db' AS x")  # osquery's authorizer
    assert (response.status.code, response.status.message) == (1, "not authorized")


def test_get_query_columns(client):
    response = client.getQueryColumns(
        "SELECT unix_time, weekday, unix_time + 1 AS next, 'a' || 'b' AS ab, count(*) AS n "
        "FROM time")
    assert response.status.code == 0
    assert response.response == [{"unix_time": "INTEGER"}, {"weekday": "TEXT"},
                                 {"next": "BIGINT"}, {"ab": "TEXT"}, {"n": "BIGINT"}]
    assert client.getQueryColumns("SELECT * FROM nope").status.message == "no such table: nope"


def test_call_routes_to_core_registries(client, host):
    response = client.call("table", "time", {"action": "generate"})
    assert response.status.code == 0 and response.response[0]["timezone"] == "UTC"
    host.set_option("custom_x", "42")
    response = client.call("config", "", {"action": "option", "name": "custom_x"})
    assert response.response == [{"name": "custom_x", "value": "42"}]
    assert client.call("nope", "x", {}).status.code == 1
