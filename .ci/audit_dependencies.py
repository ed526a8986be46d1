"""Dependency audit for CI: pip-audit over every package the test environment installed.

Fails (exit 1) when any installed release has a known vulnerability. Packages the
vulnerability service cannot look up are counted and named, not silently passed: a mirror that
serves no vulnerability data leaves them unaudited, and this script says so on every run.

usage: python .ci/audit_dependencies.py VENV
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main(venv: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        tool = Path(scratch) / "audit-venv"
        subprocess.run([sys.executable, "-m", "venv", str(tool)], check=True)
        subprocess.run([str(tool / "bin" / "pip"), "install", "-q", "pip-audit>=2.7,<3"],
                       check=True)
        frozen = subprocess.run([str(venv / "bin" / "pip"), "freeze", "--exclude-editable"],
                                check=True, capture_output=True, text=True).stdout
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text("".join(line + "\n" for line in frozen.splitlines()
                                        if "==" in line and not line.startswith("-e")))
        report = Path(scratch) / "audit.json"
        done = subprocess.run([str(tool / "bin" / "pip-audit"), "-r", str(requirements),
                               "--no-deps", "--disable-pip", "--progress-spinner", "off",
                               "-f", "json", "-o", str(report)],
                              check=False, capture_output=True, text=True)
        if not report.exists():
            print(done.stdout + done.stderr, file=sys.stderr)
            print("dependency audit: pip-audit did not run", file=sys.stderr)
            return 1
        dependencies = json.loads(report.read_text())["dependencies"]
    vulnerable = [(d["name"], d["version"], v["id"], v.get("fix_versions", []))
                  for d in dependencies for v in d.get("vulns", [])]
    skipped = sorted(d["name"] for d in dependencies if "skip_reason" in d)
    audited = len(dependencies) - len(skipped)
    print(f"dependency audit: {len(dependencies)} packages, {audited} audited, "
          f"{len(vulnerable)} known vulnerabilities")
    if skipped:
        print(f"dependency audit: WARNING {len(skipped)} packages could not be looked up by the "
              "vulnerability service (a registry mirror without vulnerability data?): "
              + ", ".join(skipped))
    for name, version, ident, fixes in vulnerable:
        print(f"  {name} {version}: {ident} (fixed in {', '.join(fixes) or 'no release yet'})")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".venv")))
