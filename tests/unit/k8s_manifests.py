"""Validate Kubernetes manifests the way the API server would, without a cluster.

- ``SparkApplication`` and ``ScheduledSparkApplication``: against the ``openAPIV3Schema``
  of the spark-operator CRDs copied in ``tests/schemas/spark-operator``. A CRD schema
  does not reject unknown fields: the API server silently *prunes* them (structural
  schemas), so a misspelt field would be dropped, not refused. ``unknown_fields``
  reports every field the schema does not declare, except under
  ``x-kubernetes-preserve-unknown-fields``.
- The core kinds tradelake uses (Namespace, ServiceAccount, ConfigMap, Role,
  RoleBinding): their fields and the shapes that matter, checked here.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from tests.lakes import REPO

SCHEMA_DIR = REPO / "tests" / "schemas" / "spark-operator"
GROUP_VERSION = "sparkoperator.k8s.io/v1beta2"
CRD_FILES = {
    "SparkApplication": "sparkoperator.k8s.io_sparkapplications.yaml",
    "ScheduledSparkApplication": "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
}
KUSTOMIZE = REPO / "scripts" / "kustomize.sh"

_DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_RBAC_VERBS = {
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
}
# Fields each core kind may have (its API type's top level).
_CORE_FIELDS: dict[tuple[str, str], set[str]] = {
    ("v1", "Namespace"): {"apiVersion", "kind", "metadata", "spec"},
    ("v1", "ServiceAccount"): {
        "apiVersion",
        "kind",
        "metadata",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "secrets",
    },
    ("v1", "ConfigMap"): {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"},
    ("rbac.authorization.k8s.io/v1", "Role"): {"apiVersion", "kind", "metadata", "rules"},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {
        "apiVersion",
        "kind",
        "metadata",
        "roleRef",
        "subjects",
    },
}
_METADATA_FIELDS = {"name", "namespace", "labels", "annotations"}


class KustomizeUnavailable(RuntimeError):
    """Neither the pinned kustomize, Go to build it, nor kubectl is available."""


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a file, empty ones skipped."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(kustomization: Path) -> list[dict[str, Any]]:
    """``kustomize build`` of a kustomization directory, as documents.

    Raises:
        KustomizeUnavailable: scripts/kustomize.sh found no way to run kustomize.
        RuntimeError: kustomize failed; the message has its error.
    """
    result = subprocess.run(
        [str(KUSTOMIZE), "build", str(kustomization)], capture_output=True, text=True, check=False
    )
    if result.returncode == 3:
        raise KustomizeUnavailable(result.stderr.strip())
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {kustomization} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the served, stored v1beta2 version of a CRD."""
    crd = load_documents(SCHEMA_DIR / CRD_FILES[kind])[0]
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    assert version["served"] and version["storage"]
    return dict(version["schema"]["openAPIV3Schema"])


def _without_required(schema: Any) -> Any:
    """The schema with every ``required`` list removed (for partial documents: patches)."""
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "required" and isinstance(value, list):
            continue
        if key == "properties":
            result[key] = {name: _without_required(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            result[key] = _without_required(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            result[key] = [_without_required(sub) for sub in value]
        else:
            result[key] = value
    return result


def unknown_fields(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """Paths of the fields in ``value`` the API server would prune: not in the schema."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if properties is not None and key in properties:
                problems += unknown_fields(item, properties[key], where)
            elif isinstance(additional, dict):
                problems += unknown_fields(item, additional, where)
            elif additional is not True:
                problems.append(f"{where}: not in the schema (the API server would drop it)")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return problems


def metadata_errors(metadata: Any, *, partial: bool = False) -> list[str]:
    """Problems of an ObjectMeta (CRD schemas leave ``metadata`` to the API server)."""
    if not isinstance(metadata, dict):
        return ["metadata: must be an object"]
    problems = [
        f"metadata.{key}: not a field tradelake sets"
        for key in metadata
        if key not in _METADATA_FIELDS
    ]
    name = metadata.get("name")
    if not partial and not (
        isinstance(name, str) and len(name) <= 253 and _DNS_1123_SUBDOMAIN.match(name)
    ):
        problems.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    for field in ("labels", "annotations"):
        entries = metadata.get(field, {})
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            problems.append(f"metadata.{field}: must map strings to strings")
        elif field == "labels":
            problems += [
                f"metadata.labels.{k}: {v!r} is not a valid label value"
                for k, v in entries.items()
                if len(v) > 63 or not _LABEL_VALUE.match(v)
            ]
    return problems


def crd_errors(doc: Mapping[str, Any], *, partial: bool = False) -> list[str]:
    """Problems of a spark-operator resource: schema violations and pruned fields.

    ``partial`` validates a patch: required fields may be missing.
    """
    kind = str(doc.get("kind"))
    schema = crd_schema(kind)
    if partial:
        schema = _without_required(schema)
    validator = Draft7Validator(schema)
    problems = [
        f"{'.'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(doc)
    ]
    body = {key: value for key, value in doc.items() if key != "metadata"}
    problems += unknown_fields(body, schema, "")
    problems += metadata_errors(doc.get("metadata"), partial=partial)
    if doc.get("apiVersion") != GROUP_VERSION:
        problems.append(f"apiVersion: {doc.get('apiVersion')!r}, expected {GROUP_VERSION}")
    return problems


def core_errors(doc: Mapping[str, Any], *, partial: bool = False) -> list[str]:
    """Problems of one of the core resources tradelake uses.

    ``partial``: a source file, whose namespaces kustomize fills in.
    """
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if key not in _CORE_FIELDS:
        return [f"{key}: not a kind tradelake's manifests use"]
    problems = [
        f"{field}: not a field of {key[1]}" for field in doc if field not in _CORE_FIELDS[key]
    ]
    problems += metadata_errors(doc.get("metadata"))
    kind = key[1]
    if kind == "ServiceAccount" and not isinstance(doc.get("automountServiceAccountToken"), bool):
        problems.append("automountServiceAccountToken: set it explicitly, true or false")
    if kind == "ConfigMap":
        data = doc.get("data", {})
        problems += [
            f"data.{k}: keys are [-._a-zA-Z0-9]+ and values strings"
            for k, v in data.items()
            if not (isinstance(k, str) and _CONFIGMAP_KEY.match(k) and isinstance(v, str))
        ]
    if kind == "Role":
        for index, rule in enumerate(doc.get("rules", [])):
            extra = set(rule) - {"apiGroups", "resources", "verbs", "resourceNames"}
            if extra:
                problems.append(f"rules[{index}]: unknown fields {sorted(extra)}")
            if not set(rule.get("verbs", [])) <= _RBAC_VERBS:
                problems.append(f"rules[{index}].verbs: {rule.get('verbs')} (no wildcards)")
            if not rule.get("resources") or "*" in rule["resources"]:
                problems.append(f"rules[{index}].resources: name them, no wildcard")
    if kind == "RoleBinding":
        ref = doc.get("roleRef", {})
        if ref.get("apiGroup") != "rbac.authorization.k8s.io" or ref.get("kind") != "Role":
            problems.append(f"roleRef: {ref} must be a Role of rbac.authorization.k8s.io")
        for index, subject in enumerate(doc.get("subjects", [])):
            if subject.get("kind") != "ServiceAccount":
                problems.append(f"subjects[{index}]: only service accounts are bound")
            elif not partial and not subject.get("namespace"):
                problems.append(f"subjects[{index}]: a service account needs its namespace")
    return problems


def errors(doc: Mapping[str, Any], *, partial: bool = False) -> list[str]:
    """Every problem of one document, of any kind tradelake uses."""
    if doc.get("kind") in CRD_FILES:
        return crd_errors(doc, partial=partial)
    return core_errors(doc, partial=partial)


def describe(doc: Mapping[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def assert_valid(docs: Iterable[Mapping[str, Any]], *, partial: bool = False) -> None:
    """Fail with every problem of every document."""
    problems = [
        f"{describe(doc)}: {problem}" for doc in docs for problem in errors(doc, partial=partial)
    ]
    assert not problems, "\n".join(problems)
