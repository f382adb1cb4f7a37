"""es_stages: the health of the pipeline's stages, as rows (the table is declared in tables/es_stages.toml)."""

from __future__ import annotations


def stage_rows(pipeline, reloader) -> list[dict]:
    """One row each for the configuration, the lineage stage and the ring budget."""
    with pipeline.lock:
        lineage, budget = pipeline.lineage, pipeline.budget
        used = budget.used
        rows = [{
            "stage": "config", "state": "refused" if reloader is not None and reloader.last_error else "ok",
            "items": reloader.reloads if reloader is not None else 0,
            "errors": reloader.refused if reloader is not None else 0,
            "last_error": reloader.last_error if reloader is not None else None,
            "changed": int(reloader.changed) if reloader is not None and reloader.changed else None,
        }]
        if lineage is None:
            rows.append({"stage": "lineage", "state": "off"})
        else:
            rows.append({"stage": "lineage", "state": "on", "items": len(lineage.records),
                         "limit": lineage.max_processes, "evictions": lineage.evicted, "errors": lineage.errors,
                         "last_error": lineage.last_error})
        rows.append({"stage": "rings", "state": "full" if budget.limit and used >= budget.limit * 0.95 else "ok",
                     "items": used, "limit": budget.limit or None, "evictions": budget.evictions})
    return rows
