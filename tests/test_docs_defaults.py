"""The docs that restate the default clients say what the declarations say.

docs/eslogger.md shows the default `[clients]` as TOML and the README counts the tables they
subscribe; both are derived by hand from `tables/*.toml`, so a declaration that gains or loses a
`client` must fail here until the docs follow.
"""

import re
import tomllib
from pathlib import Path

from osq_esf.kinds import default_kinds
from osq_esf.sources.common import default_clients

REPO = Path(__file__).resolve().parent.parent


def _documented_clients() -> dict:
    text = (REPO / "docs" / "eslogger.md").read_text()
    block = re.search(r"```toml\n(\[clients\].*?)\n\[eslogger\]", text, re.S)
    assert block, "docs/eslogger.md lost its [clients] example"
    return tomllib.loads(block.group(1))["clients"]


def test_eslogger_doc_shows_the_declared_default_clients():
    def as_sets(clients):  # the order of a client's events means nothing to eslogger
        return {name: sorted(events) for name, events in clients.items()}

    assert as_sets(_documented_clients()) == as_sets(default_clients())


def test_readme_counts_the_tables_the_default_clients_subscribe():
    readme = (REPO / "README.md").read_text()
    m = re.search(r"All (\d+) tables exist on every install; by default (\w+) ES clients subscribe to (\d+) of them",
                  readme)
    assert m, "README lost its sentence on the default clients"
    clients = default_clients()
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    assert int(m.group(1)) == len(default_kinds())
    assert m.group(2) == words.get(len(clients), str(len(clients)))
    assert int(m.group(3)) == sum(len(v) for v in clients.values())
