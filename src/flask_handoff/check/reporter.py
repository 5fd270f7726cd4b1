"""How findings are written: for a person (text), for tools (JSON), for code-scanning
UIs (SARIF 2.1.0)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .messages import KINDS

if TYPE_CHECKING:
    from .api import Result
    from .messages import Finding

INFO_URI = "https://github.com/handoff/flask-handoff/blob/main/docs/check.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def text(result: Result) -> str:
    out: list[str] = []
    for finding in result.findings:
        entry, *middle, site = finding.path
        out.append(f"{entry.file}:{entry.line} {entry.name} ({finding.how})")
        out += [f"  -> {step.file}:{step.line} {step.name}" for step in middle]
        out.append(f"  -> {site.file}:{site.line} {site.name}   {finding.code} {finding.reason}")
        out.append(f"fix: {finding.fix}")
        out.append("")
    out += [f"warning: {problem}" for problem in result.problems]
    count = len(result.findings)
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    out.append(
        f"{count} request-context leak{'s' if count != 1 else ''} found in {files}."
        if count
        else f"No request-context leaks in {files}."
    )
    return "\n".join(out) + "\n"


def as_json(result: Result) -> str:
    findings = [
        {
            "code": f.code,
            "kind": f.title,
            "entry": {"file": f.entry.file, "line": f.entry.line, "name": f.entry.name},
            "how": f.how,
            "path": [{"file": s.file, "line": s.line, "name": s.name} for s in f.path],
            "message": f.message,
            "fix": f.fix,
        }
        for f in result.findings
    ]
    return json.dumps(
        {"files": result.files, "findings": findings, "problems": result.problems}, indent=2
    )


def sarif(result: Result) -> str:
    rules = [
        {
            "id": kind.code,
            "name": kind.title,
            "shortDescription": {"text": (kind.__doc__ or kind.title).split("\n")[0]},
            "help": {"text": f"fix: {kind.fix}"},
            "helpUri": INFO_URI,
            "defaultConfiguration": {"level": "error"},
        }
        for kind in KINDS
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "flask-handoff-check",
                        "informationUri": INFO_URI,
                        "rules": rules,
                    }
                },
                "results": [_sarif_result(f, rules) for f in result.findings],
            }
        ],
    }
    return json.dumps(log, indent=2)


def _sarif_result(finding: Finding, rules: list[dict[str, Any]]) -> dict[str, Any]:
    def location(step: Any, message: str | None = None) -> dict[str, Any]:
        loc: dict[str, Any] = {
            "physicalLocation": {
                "artifactLocation": {"uri": step.file},
                "region": {"startLine": step.line},
            }
        }
        if message:
            loc["message"] = {"text": message}
        return loc

    flow = [{"location": location(step, step.name)} for step in finding.path]
    return {
        "ruleId": finding.code,
        "ruleIndex": [r["id"] for r in rules].index(finding.code),
        "level": "error",
        "message": {
            "text": f"{finding.message}, reached from {finding.entry.name}"
            f" ({finding.how}). Fix: {finding.fix}."
        },
        "locations": [location(finding.site)],
        "relatedLocations": [
            {**location(step, step.name), "id": i} for i, step in enumerate(finding.path)
        ],
        "codeFlows": [{"threadFlows": [{"locations": flow}]}],
    }


WRITERS = {"text": text, "json": as_json, "sarif": sarif}
