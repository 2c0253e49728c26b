"""Groups CSV rows whose normalised key columns are equal. JSON in on stdin, JSON out."""

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path


def normalise(value: str) -> str:
    return " ".join(value.strip().lower().split())


def main() -> None:
    arguments = json.load(sys.stdin)
    path = Path(arguments["path"])
    if path.is_absolute() or ".." in path.parts:
        sys.exit("path must be relative to the run workspace")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [column for column in arguments["columns"] if rows and column not in rows[0]]
    if missing:
        sys.exit(f"unknown columns: {', '.join(missing)}")
    groups = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        key = tuple(normalise(row[column] or "") for column in arguments["columns"])
        if all(key):
            groups[key].append(number)
    duplicates = [numbers for numbers in groups.values() if len(numbers) > 1]
    json.dump(
        {
            "rows": len(rows),
            "columns": arguments["columns"],
            "groups": duplicates,
            "rows_merged_away": sum(len(numbers) - 1 for numbers in duplicates),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
