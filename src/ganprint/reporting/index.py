"""The results index (``results/<scale>/README.md``) and the provenance file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ganprint.utils.atomic import atomic_write_json, atomic_write_text


def write_index(out_dir: Path, scale: str, sections: list[dict[str, Any]], provenance: dict[str, Any]) -> Path:
    """``sections``: dicts with ``markdown`` (a table's Markdown) and ``figures`` (paths relative to out_dir)."""
    lines = [f"# ganprint results — scale `{scale}`", "",
             f"Built {time.strftime('%Y-%m-%d %H:%M')} from run records under `runs/` by `make reproduce-tables "
             f"SCALE={scale}` (commit `{provenance.get('git', {}).get('commit', 'unknown')[:10]}`). Each cell is the "
             "mean ± std over seeds with n; a gap (—) says why it is missing. Our numbers come from Fashion-MNIST "
             "at the scale above and GANs trained in-project, so they are compared with the paper's (CelebA/LSUN, "
             "128×128) in trend, not digit for digit.", ""]
    for sec in sections:
        lines += [sec["markdown"], ""]
        for fig, caption in sec.get("figures", []):
            lines += [f"![{caption}]({fig})", "", f"*{caption}*", ""]
    lines += ["## Provenance", "", "`provenance.json`: git commit, config and data-manifest hashes of every run, "
              "package versions, wall time per stage.", ""]
    path = out_dir / "README.md"
    atomic_write_text(path, "\n".join(lines))
    atomic_write_json(out_dir / "provenance.json", provenance)
    return path
