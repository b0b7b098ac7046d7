"""The shortcut audit in the results index: a note under every table whose runs were audited (folder sources).

Reads run records only (``data.audit``, written by training on folder sources). May be imported by tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def audit_note(records: Iterable[Mapping[str, Any]]) -> str:
    """One Markdown paragraph on the audits of ``records`` (each distinct data set once); "" when none was."""
    seen: dict[str, Mapping[str, Any]] = {}
    for rec in records:
        audit = (rec.get("data") or {}).get("audit")
        if rec.get("status") == "ok" and audit:
            seen.setdefault(str(rec.get("manifest_sha256") or len(seen)), {**audit, "_sources": rec.get("sources")})
    if not seen:
        return ""
    lines = []
    for audit in seen.values():
        meta = audit.get("metadata") or {}
        score = (f"metadata-only classifier {meta['test_acc'] * 100:.1f} % vs majority {meta['majority'] * 100:.1f} %"
                 if "test_acc" in meta else "metadata-only classifier not run")
        content = audit.get("content") or {}
        if "test_acc" in content:
            score += f"; content-only {content['test_acc'] * 100:.1f} %"
        dups = (audit.get("duplicates") or {}).get("n_pairs", 0)
        norm = f" (data normalised: {audit['normalize']})" if audit.get("normalize") else ""
        names = ", ".join(audit.get("_sources") or [])
        if audit.get("warnings"):
            lines.append(f"- **Shortcut warning** for sources {names}{norm}: {score}, {dups} duplicate pairs across "
                         f"sources. " + " ".join(audit["warnings"]))
        else:
            lines.append(f"- Shortcut audit of sources {names}{norm}: clean ({score}, {dups} duplicate pairs).")
    return "\n".join(["Shortcut audit (runs on folder sources):", *lines])
