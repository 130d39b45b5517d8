"""Write docs/event-schema.json from the shared Structs; `--check` fails if the file has drifted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from devlog_shared import event_json_schema

TARGET = Path(__file__).resolve().parent.parent / "docs" / "event-schema.json"


def render() -> str:
    return json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run `make schema` and commit it", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
