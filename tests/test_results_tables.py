"""The docs' benchmark tables are generated from results/*.json: regenerate and compare."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "results_tables.py"


def test_docs_tables_match_results() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_result_file_is_complete() -> None:
    files = sorted((REPO / "results").glob("*/*.json"))
    for path in files:
        data = json.loads(path.read_text())
        assert data["schema"] == "physics-ml-result/1", path
        for key in ("tool", "bench", "commit", "machine", "seeds", "config", "tables"):
            assert key in data, f"{path}: missing {key}"
        for table in data["tables"]:
            width = len(table["columns"])
            assert all(len(row) == width for row in table["rows"]), f"{path}: ragged table"


def test_generator_fills_and_detects_stale(tmp_path: Path) -> None:
    docs, results = tmp_path / "docs", tmp_path / "results" / "toy"
    docs.mkdir()
    results.mkdir(parents=True)
    (results / "b.json").write_text(
        json.dumps(
            {
                "schema": "physics-ml-result/1",
                "seeds": [0, 1, 2],
                "commit": "abc",
                "tables": [
                    {
                        "name": "t",
                        "columns": ["case", "rmse"],
                        "rows": [["x", {"mean": 1.23456, "sd": 0.1}], ["y", 2.0]],
                    }
                ],
            }
        )
    )
    page = docs / "p.md"
    page.write_text("a\n<!-- results: toy/b:t -->\nold\n<!-- /results -->\nz\n")
    args = ["--docs", str(docs), "--results", str(tmp_path / "results")]
    check = [sys.executable, str(SCRIPT), "--check", *args]
    assert subprocess.run(check, capture_output=True).returncode == 1
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, capture_output=True)
    text = page.read_text()
    assert "| x | 1.235 ± 0.1 |" in text and "old" not in text
    assert subprocess.run(check, capture_output=True).returncode == 0
