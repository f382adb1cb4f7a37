"""P2's baseline: the same rows served by osquery-python's own TablePlugin + start_extension.

Run as ``python -m bench.sdk_server --socket S`` with BENCH_ROWS naming a JSON file of
rows (already strings, NULLs left out, exactly what our extension sent) and BENCH_TABLE
the table name.  The plugin returns the prepared list, so what is measured is the SDK's
own serving path: its call routing, str() pass and the thrift code it ships.
"""

from __future__ import annotations

import json
import os

import osquery


def main() -> None:
    with open(os.environ["BENCH_ROWS"]) as f:
        rows = json.load(f)
    columns = sorted({k for r in rows for k in r})
    table = os.environ.get("BENCH_TABLE", "es_open")

    @osquery.register_plugin
    class BenchTable(osquery.TablePlugin):
        def name(self):
            return table

        def columns(self):
            return [osquery.TableColumn(name=c, type=osquery.STRING) for c in columns]

        def generate(self, context):
            return rows

    osquery.start_extension(name="sdk_baseline", version="1.0.0")


if __name__ == "__main__":
    main()
