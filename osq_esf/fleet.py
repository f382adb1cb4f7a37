"""An osquery pack as Fleet GitOps YAML: a reports file (and the policy that checks the extension).

The mapping is Fleet's own ("Translate the schedule to reports",
fleetdm/fleet `articles/migrate-from-osquery-to-fleetd.md` @b055cf5c;
`server/fleet/queries.go` `QuerySpec`, `verifyLogging`): `snapshot: true`
-> `logging: snapshot`, `removed: false` -> `logging:
differential_ignore_removals`, otherwise `logging: differential`;
`version` -> `min_osquery_version`; `automations_enabled: true` sends the
results to the log destination, as osqueryd's schedule did. A reports file
is a YAML list; a team or default file includes it with
`reports: [{path: ../lib/macos/reports/<file>.yml}]` (`queries:` on Fleet
versions before the rename).

osqueryd runs a pack only while its `discovery` queries return rows; Fleet
has no discovery, so each report is scoped with `labels_include_any` to a
dynamic label built from the pack's discovery query (`label_yaml`; Fleet's
yaml-files.md `labels`: a label a report names must be defined in
`labels:`). Whether report label scoping needs Fleet Premium is not
confirmed here.

Strings are written as JSON strings, which YAML reads unchanged, so no
query text can break the file. The pack stays the one source: the YAML
files in packaging/fleet/ are generated (`osq-esf pack PACK --to-fleet`)
and a test holds them equal (`--to-fleet reports` / `--to-fleet label`).
"""

from __future__ import annotations

import json

from osq_esf.host.packs import Pack


def _s(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def logging_mode(raw: dict) -> str:
    if raw.get("snapshot") is True:
        return "snapshot"
    if raw.get("removed") is False:
        return "differential_ignore_removals"
    return "differential"


LABEL = "osq-esf installed"


def label_yaml(pack: Pack) -> str:
    """The dynamic label the reports are scoped to: hosts where the pack's discovery holds."""
    return ("# Generated from packaging/packs/%s.conf by `osq-esf pack ... --to-fleet label`.\n"
            "- name: %s\n  description: %s\n  query: %s\n  label_membership_type: dynamic\n  platform: darwin\n"
            % (pack.name, _s(LABEL), _s("Hosts where osqueryd has loaded the osq_esf extension."),
               _s(" AND ".join("EXISTS (%s)" % q.strip().rstrip(";") for q in pack.discovery)
                  if len(pack.discovery) > 1 else pack.discovery[0])))


def report_name(pack: Pack, query: str) -> str:
    return "%s %s" % (pack.name, query)


def reports_yaml(pack: Pack) -> str:
    """Fleet reports (one per pack query) for a lib file, in the pack's order."""
    lines = ["# Generated from packaging/packs/%s.conf by `osq-esf pack ... --to-fleet reports`; edit the pack, "
             "not this file." % pack.name]
    for q in sorted(pack.queries, key=lambda q: list(pack.raw["queries"]).index(q.name)):
        lines += [
            "- name: %s" % _s(report_name(pack, q.name)),
            "  description: %s" % _s(q.description),
            "  query: %s" % _s(q.query),
            "  interval: %d" % q.interval,
            "  platform: darwin",
            "  logging: %s" % logging_mode(q.raw),
            "  min_osquery_version: %s" % _s(pack.version),
            "  automations_enabled: true",
            "  observer_can_run: false",
            "  labels_include_any: [%s]" % _s(LABEL),
        ]
    return "\n".join(lines) + "\n"
