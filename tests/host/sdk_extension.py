"""A test double: an extension written with the osquery-python SDK.

Run as `python -m tests.host.sdk_extension --socket S --timeout T --interval I`.
Table `sdk_procs` echoes the (SDK-parsed) context it receives and raises
when asked for name 'boom'.
"""

from __future__ import annotations

import json
import logging

import osquery

logging.getLogger("thrift").addHandler(logging.NullHandler())


@osquery.register_plugin
class SdkProcs(osquery.TablePlugin):
    def name(self):
        return "sdk_procs"

    def columns(self):
        return [
            osquery.TableColumn(name="pid", type=osquery.INTEGER),
            osquery.TableColumn(name="name", type=osquery.STRING),
            osquery.TableColumn(name="ctx", type=osquery.STRING),
            osquery.TableColumn(name="token", type=osquery.STRING),
        ]

    def routes(self):
        routes = super().routes()
        routes[-1]["op"] = "16"  # token: HIDDEN (the SDK itself only sends op 0)
        return routes

    def generate(self, context):
        names = [item["expr"] for entry in context.get("constraints", [])
                 if entry["name"] == "name" for item in entry["list"]]
        if "boom" in names:
            raise RuntimeError("generate failed on purpose")
        ctx = json.dumps(context, sort_keys=True)
        return [
            {"pid": 1, "name": "launchd", "ctx": ctx, "token": "t1"},
            {"pid": "", "name": "", "ctx": ctx, "token": "t2"},
        ]


if __name__ == "__main__":
    osquery.start_extension(name="sdk_test", version="0.1.0")
