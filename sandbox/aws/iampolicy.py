"""A small IAM policy evaluator for the VM Import/Export service role (moto stores policies, it never applies them).

Real VM Import assumes the role and reads the disk objects with it, so a role that trusts vmie.amazonaws.com but
lacks ``s3:GetObject`` (or ``s3:ListBucket`` / ``s3:GetBucketLocation``) on the bucket makes the task fail. The
evaluation covers what such roles use: identity policies (inline and attached managed ones, default version),
``Allow``/``Deny`` with ``Action``/``NotAction`` and ``Resource``/``NotResource`` wildcards (``*``, ``?``); an
explicit Deny wins, otherwise an Allow is needed. Conditions are not evaluated (a conditional statement counts as
matching), nor are bucket policies, permission boundaries or SCPs.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=256)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _matches(globs: list[str], value: str, ignore_case: bool) -> bool:
    return any(_pattern(g, ignore_case).match(value) for g in globs)


def parse_document(document: Any) -> dict[str, Any]:
    """A policy document as moto stores it: a dict, JSON text, or URL-encoded JSON text."""
    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(urllib.parse.unquote(text))


def _statement_applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        if not _matches(_listed(statement["Action"]), action, ignore_case=True):
            return False
    elif "NotAction" in statement:
        if _matches(_listed(statement["NotAction"]), action, ignore_case=True):
            return False
    else:
        return False
    if "Resource" in statement:
        return _matches(_listed(statement["Resource"]), resource, ignore_case=False)
    if "NotResource" in statement:
        return not _matches(_listed(statement["NotResource"]), resource, ignore_case=False)
    return False


def evaluate(documents: list[Any], action: str, resource: str) -> bool:
    """True if the policies allow ``action`` on ``resource`` (explicit Deny wins, default deny)."""
    allowed = False
    for document in documents:
        statements = parse_document(document).get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not _statement_applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


def role_policy_documents(role: Any) -> list[Any]:
    """The identity policies of a moto IAM role: inline ones and the default version of attached managed ones."""
    documents: list[Any] = list(getattr(role, "policies", {}).values())
    for policy in getattr(role, "managed_policies", {}).values():
        default = getattr(policy, "default_version_id", None)
        for version in getattr(policy, "versions", []):
            if getattr(version, "version_id", None) == default:
                documents.append(version.document)
    return documents


def s3_read_denials(documents: list[Any], bucket: str, key: str) -> list[str]:
    """The S3 permissions VM Import needs to read ``s3://bucket/key`` that the policies do not grant."""
    needed = [
        ("s3:GetBucketLocation", f"arn:aws:s3:::{bucket}"),
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"),
    ]
    return [f"{action} on {resource}" for action, resource in needed if not evaluate(documents, action, resource)]
