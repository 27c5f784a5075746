"""Fill the benchmark tables of the docs from the committed ``results/<tool>/<bench>.json``.

A page asks for a table with a marker pair::

    <!-- results: nrfix/bench:families -->
    (generated; anything here is replaced)
    <!-- /results -->

``python scripts/results_tables.py`` rewrites every such block under ``docs/``;
``--check`` only compares and exits 1 when a page is out of date (the test suite runs it).
A cell that is a number is printed with 4 significant digits; a ``{"mean", "sd"}`` cell as
``mean ± sd``; a string as it is.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(
    r"(<!-- results: (?P<ref>[\w.-]+/[\w.-]+):(?P<table>[\w.-]+) -->\n)"
    r"(?P<body>.*?)(<!-- /results -->)",
    re.S,
)


def fmt(cell: Any) -> str:
    """One table cell as Markdown text."""
    if isinstance(cell, dict) and "mean" in cell:
        sd = cell.get("sd")
        mean = fmt(cell["mean"])
        return mean if sd is None else f"{mean} ± {fmt(sd)}"
    if isinstance(cell, bool) or cell is None:
        return "–" if cell is None else str(cell)
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return f"{cell:.4g}"
    return str(cell).replace("|", "\\|")


def render(result: dict[str, Any], table_name: str, source: str) -> str:
    """The Markdown block for one table of one result file."""
    tables = {t["name"]: t for t in result["tables"]}
    if table_name not in tables:
        raise KeyError(f"{source}: no table '{table_name}' (has {sorted(tables)})")
    table = tables[table_name]
    lines = []
    if table.get("caption"):
        lines += [table["caption"], ""]
    lines.append("| " + " | ".join(fmt(str(c)) for c in table["columns"]) + " |")
    lines.append("|" + "---|" * len(table["columns"]))
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in table["rows"]]
    lines.append("")
    lines += [f"- {note}" for note in table.get("notes", [])]
    seeds = ", ".join(str(s) for s in result.get("seeds", [])) or "none"
    commit = str(result.get("commit", "unknown"))[:10]
    lines.append(
        f"<small>Generated from `{source}` (commit `{commit}`, seeds {seeds}, "
        f"{result.get('created', '')}).</small>"
    )
    return "\n".join(lines) + "\n"


def fill(text: str, results_dir: Path) -> str:
    """Replace the body of every marker block in ``text``."""

    def sub(m: re.Match[str]) -> str:
        ref = m.group("ref")
        path = results_dir / f"{ref}.json"
        source = f"results/{ref}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{source}: missing (asked for by a docs page)")
        body = render(json.loads(path.read_text()), m.group("table"), source)
        return m.group(1) + body + m.group(5)

    return MARKER.sub(sub, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) every docs page with result markers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only compare; exit 1 if stale.")
    parser.add_argument("--docs", type=Path, default=REPO / "docs", help="Docs folder.")
    parser.add_argument("--results", type=Path, default=REPO / "results", help="Results folder.")
    args = parser.parse_args(argv)
    stale = []
    for page in sorted(args.docs.rglob("*.md")):
        old = page.read_text()
        new = fill(old, args.results)
        if new != old:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    verb = "out of date" if args.check else "updated"
    for page in stale:
        print(f"{page.relative_to(REPO) if page.is_relative_to(REPO) else page}: {verb}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
