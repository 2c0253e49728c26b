"""Rows whose actual value differs from the expected one by more than threshold_pct."""

import csv
import json
import sys
from pathlib import Path


def number(value: str) -> float:
    return float(value.replace(",", "").strip())


def main() -> None:
    arguments = json.load(sys.stdin)
    path = Path(arguments["path"])
    if path.is_absolute() or ".." in path.parts:
        sys.exit("path must be relative to the run workspace")
    threshold = float(arguments.get("threshold_pct", 5))
    flagged = []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for number_of_row, row in enumerate(rows, start=1):
        try:
            actual, expected = number(row[arguments["actual"]]), number(row[arguments["expected"]])
        except (KeyError, ValueError):
            columns = f"{arguments['actual']} and {arguments['expected']}"
            sys.exit(f"row {number_of_row}: {columns} must be numbers")
        if expected == 0:
            continue
        variance = (actual - expected) / abs(expected) * 100
        if abs(variance) > threshold:
            flagged.append(
                {
                    "row": number_of_row,
                    "key": row.get(arguments.get("key", ""), ""),
                    "actual": actual,
                    "expected": expected,
                    "variance_pct": round(variance, 2),
                }
            )
    json.dump({"rows": len(rows), "threshold_pct": threshold, "flagged": flagged}, sys.stdout)


if __name__ == "__main__":
    main()
