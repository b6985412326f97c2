"""Helper for writing scenarios (not a test): print a draft expected.yml from a real run.

    .venv/bin/python tests/scenarios/draft.py tests/scenarios/handlers

Read the draft against Ansible's rules (or ansible_reference.py) before saving it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from test_scenarios import observed_tasks, run_scenario


def main(directory: Path) -> None:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        proc, expected = run_scenario(directory, Path(tmp))
        sys.stderr.write(proc.stdout + proc.stderr)
        report = json.loads((Path(tmp) / "report.json").read_text())
    draft = {k: v for k, v in expected.items() if k == "args"}
    draft["exit_code"] = proc.returncode
    draft["tasks"] = observed_tasks(report)
    draft["stats"] = report["stats"]
    print(yaml.safe_dump(draft, sort_keys=False, default_flow_style=None, width=100))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
