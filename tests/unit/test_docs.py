"""The README and docs/ describe the code as it is (no Spark).

Links and anchors resolve; every job, job flag, reason code, ingest check, exit code and
settings variable the code defines is documented, and no variable the docs name is one
no code reads. The jobs, flags, codes, checks and variables are read from the code itself
(argparse calls, the contract, the settings model, the errors), never from a list kept here.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from pydantic import AliasChoices, BaseModel

from tests.lakes import REPO
from tradelake import errors
from tradelake.config import DEFAULT_INGEST_SEVERITY, Settings
from tradelake.contract import REASON_CODES
from tradelake.runtime import add_settings_argument, job_parser

README = REPO / "README.md"
DOCS = REPO / "docs"
JOBS_PAGE = DOCS / "jobs.md"
CONTRACT_PAGE = DOCS / "contract.md"
MAX_README_LINES = 200
JOBS = sorted(path.stem for path in (REPO / "jobs").glob("*.py") if path.stem != "__init__")
# Command-line tools besides the jobs, whose flags are documented too.
TOOLS = {
    "python -m tradelake.deploy": REPO / "lib/tradelake/deploy.py",
    "python -m tradelake.athena": REPO / "lib/tradelake/athena.py",
    "python -m tradelake.sample": REPO / "lib/tradelake/sample.py",
    "python -m tradelake.report": REPO / "lib/tradelake/report/cli.py",
    "python -m tradelake.replay": REPO / "lib/tradelake/replay/cli.py",
    "k8s/rerun.py": REPO / "k8s/rerun.py",
}
# Where a TRADELAKE_* variable the docs name must be read, if it is not a setting.
CODE_ROOTS = ("lib", "jobs", "tests", "bench", "scripts", "docker", "k8s", ".ci", "analytics")
CODE_FILES = ("spark-submit.sh", "Makefile", "Dockerfile")

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_VARIABLE = re.compile(r"(?<![A-Za-z0-9_])TRADELAKE_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])")


def doc_pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text, with fenced code blocks blanked (no links, no headings)."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        marker = line.lstrip()[:3]
        if fence is None and marker in ("```", "~~~"):
            fence = marker
            lines.append("")
        elif fence is not None:
            if marker == fence:
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every ATX heading outside code blocks."""
    found = []
    for line in prose_lines(text):
        match = _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def github_anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower-case, punctuation dropped (but - and _), spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link shows its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    result = set()
    for _, title in headings(page.read_text(encoding="utf-8")):
        slug = github_anchor(title)
        count = seen.get(slug, 0)
        result.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return result


def link_targets(page: Path) -> list[str]:
    """The targets of the page's links (inline and reference-style), outside code."""
    prose = "\n".join(prose_lines(page.read_text(encoding="utf-8")))
    # Inline code may sit inside a link's text, never in its target: drop the spans only.
    prose = _CODE_SPAN.sub("", prose)
    return _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)


def broken_links(pages: Iterable[Path]) -> list[str]:
    """Every relative link whose file, or whose #anchor in a Markdown file, does not exist."""
    broken = []
    for page in pages:
        for target in link_targets(page):
            if _SCHEME.match(target):
                continue  # https:, mailto: … are not checked here
            path_part, _, anchor = target.partition("#")
            resolved = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(REPO)}: ({target})"
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                broken.append(f"{where} -> no file {path_part}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(
                    f"{where} -> no heading with anchor #{anchor} in "
                    f"{resolved.relative_to(REPO)}; anchors: {sorted(anchors(resolved))}"
                )
    return broken


def section(page: Path, title: str) -> str | None:
    """The text under the heading ``title`` of ``page``, up to the next heading of its level."""
    if not page.is_file():
        return None
    lines = page.read_text(encoding="utf-8").splitlines()
    prose = prose_lines("\n".join(lines))
    start, level = None, 0
    for number, line in enumerate(prose):
        match = _HEADING.match(line)
        if not match:
            continue
        if start is not None and len(match.group(1)) <= level:
            return "\n".join(lines[start:number])
        if start is None and match.group(2) == title:
            start, level = number, len(match.group(1))
    return None if start is None else "\n".join(lines[start:])


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row of ``text`` (header and separator rows included)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.lstrip().startswith("|")
    ]


def mentions(text: str, word: str) -> bool:
    """Whether ``word`` (a flag, a variable) occurs in ``text`` as a whole word."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def flags_in_source(source: Path) -> set[str]:
    """The ``--flags`` of every ``add_argument`` call in a Python file."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            found |= {
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value.startswith("--")
            }
    return found


def parser_flags(parser: argparse.ArgumentParser) -> set[str]:
    """The ``--flags`` a parser accepts (``--help`` aside)."""
    return {
        option
        for action in parser._actions  # argparse has no public list of its options
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def shared_flags() -> set[str]:
    """The flags ``runtime.job_parser`` gives every job."""
    return parser_flags(job_parser("any", ""))


def settings_flags() -> set[str]:
    """The flag ``runtime.add_settings_argument`` adds (``--tradelake-settings``)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_settings_argument(parser)
    return parser_flags(parser)


def job_flags(job: str) -> set[str]:
    """Every flag ``jobs/<job>.py`` accepts: its own, and those of the runtime helpers it uses."""
    source = REPO / "jobs" / f"{job}.py"
    text = source.read_text(encoding="utf-8")
    flags = flags_in_source(source)
    if "job_parser(" in text:
        flags |= shared_flags()
    if "add_settings_argument(" in text:
        flags |= settings_flags()
    return flags


def settings_variables() -> dict[str, tuple[str, ...]]:
    """Each setting's dotted name -> the environment variable names that set it."""
    names: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for nested in annotation.model_fields:
                names[f"{name}.{nested}"] = (f"TRADELAKE_{name.upper()}__{nested.upper()}",)
        elif isinstance(field.validation_alias, AliasChoices):
            # Read from standard variables (AWS_REGION …) rather than TRADELAKE_<FIELD>.
            choices = field.validation_alias.choices
            names[name] = tuple(str(c) for c in choices if str(c).isupper())
        else:
            names[name] = (f"TRADELAKE_{name.upper()}",)
    return names


def undocumented_variables(text: str) -> list[str]:
    """Settings none of whose environment variables the text names."""
    return [
        f"{setting} ({' or '.join(variables)})"
        for setting, variables in settings_variables().items()
        if not any(mentions(text, variable) for variable in variables)
    ]


def code_text() -> str:
    """Every source file that could read a variable (this test excluded)."""
    files = [REPO / name for name in CODE_FILES]
    for root in CODE_ROOTS:
        files += [path for path in (REPO / root).rglob("*") if path.is_file()]
    texts = []
    for path in files:
        if path.resolve() == Path(__file__).resolve() or "__pycache__" in path.parts:
            continue
        if (
            path.suffix in (".py", ".sh", ".yaml", ".yml", ".env", ".toml", ".sql", "")
            and path.is_file()
        ):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def all_docs() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in doc_pages())


# --- the checks ---------------------------------------------------------------------


def test_readme_is_a_front_door_under_200_lines() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_README_LINES, (
        f"README.md has {lines} lines (limit {MAX_README_LINES}): move the details to docs/"
    )


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = broken_links(doc_pages())
    assert broken == [], "broken links in README.md / docs/:\n" + "\n".join(broken)


def test_readme_links_every_docs_page() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in link_targets(README)
        if not _SCHEME.match(target)
    }
    unlinked = [str(p.relative_to(REPO)) for p in doc_pages()[1:] if p.resolve() not in linked]
    assert unlinked == [], f"docs pages the README's index does not link: {unlinked}"


def test_flag_collection_sees_what_the_jobs_define() -> None:
    # The collectors themselves: a multi-line add_argument, a parser() function, a parser
    # built inside main, and the shared flags of job_parser.
    assert {"--raw-uri", "--max-reject-ratio", "--date", "--tradelake-settings"} <= job_flags(
        "ingest"
    )
    assert {"--orphan-age-hours", "--force", "--database"} <= job_flags("compact")
    assert {"--resume", "--concurrency", "--database", "--tradelake-settings"} <= job_flags(
        "backfill"
    )
    assert {"--date", "--database", "--tradelake-settings"} <= shared_flags()


@pytest.mark.parametrize("job", JOBS)
def test_every_job_is_in_the_readme_and_has_its_section(job: str) -> None:
    assert f"jobs/{job}.py" in README.read_text(encoding="utf-8"), (
        f"README.md's jobs table does not name jobs/{job}.py"
    )
    text = section(JOBS_PAGE, job)
    assert text is not None, f"docs/jobs.md has no '## {job}' section for jobs/{job}.py"
    assert f"jobs/{job}.py" in text, f"docs/jobs.md's '{job}' section does not name its script"


@pytest.mark.parametrize("job", JOBS)
def test_every_flag_of_a_job_is_documented_in_its_section(job: str) -> None:
    """A job's own flags in its section; those every job takes under 'Running a job'."""
    text = section(JOBS_PAGE, job) or ""
    own = job_flags(job) - shared_flags()
    missing = sorted(flag for flag in own if not mentions(text, flag))
    assert missing == [], f"jobs/{job}.py flags missing from docs/jobs.md '## {job}': {missing}"


def test_the_flags_every_job_takes_are_documented_once() -> None:
    text = section(JOBS_PAGE, "Running a job") or ""
    missing = sorted(flag for flag in shared_flags() if not mentions(text, flag))
    assert missing == [], f"shared job flags missing from docs/jobs.md 'Running a job': {missing}"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_flag_of_a_tool_is_documented(tool: str) -> None:
    text = all_docs()
    missing = sorted(flag for flag in flags_in_source(TOOLS[tool]) if not mentions(text, flag))
    assert missing == [], f"{tool} flags missing from README.md and docs/: {missing}"


def test_every_reason_code_is_a_row_of_the_reason_code_table() -> None:
    text = section(CONTRACT_PAGE, "Reason codes") or ""
    rows = {row[0].strip("`") for row in table_rows(text)[2:]}
    missing = [code for code in REASON_CODES if code not in rows]
    unknown = sorted(rows - set(REASON_CODES))
    assert missing == [], f"reason codes missing from docs/contract.md's table: {missing}"
    assert unknown == [], f"docs/contract.md's table names codes the contract lacks: {unknown}"


def test_every_ingest_check_is_documented_with_its_default_severity() -> None:
    text = section(CONTRACT_PAGE, "Quality gate") or ""
    documented = {row[0].strip("`"): row[1] for row in table_rows(text)[2:] if len(row) > 1}
    assert documented == DEFAULT_INGEST_SEVERITY, (
        "docs/contract.md's quality gate table (check: severity) differs from "
        f"config.DEFAULT_INGEST_SEVERITY: documented {documented}, code {DEFAULT_INGEST_SEVERITY}"
    )


def test_every_exit_code_is_in_the_readme_table() -> None:
    text = section(README, "Exit codes") or ""
    codes = {row[0] for row in table_rows(text)[2:]}
    raised = {
        str(error.exit_code)
        for error in vars(errors).values()
        if isinstance(error, type) and issubclass(error, errors.TradelakeError)
    }
    missing = sorted(({str(code) for code in range(5)} | raised) - codes)
    assert missing == [], f"exit codes missing from README.md's '## Exit codes' table: {missing}"


def test_every_settings_variable_is_documented() -> None:
    missing = undocumented_variables(all_docs())
    assert missing == [], f"settings whose environment variable README.md and docs/ lack: {missing}"


def dag_variables() -> set[str]:
    """The Airflow DAG's settings: ``TRADELAKE_AIRFLOW_<FIELD>`` (no Airflow import needed)."""
    from tradelake.orchestration import DagSettings

    prefix = DagSettings.model_config.get("env_prefix", "")
    return {f"{prefix}{name.upper()}" for name in DagSettings.model_fields}


def test_every_dag_variable_is_documented() -> None:
    text = all_docs()
    missing = sorted(name for name in dag_variables() if not mentions(text, name))
    assert missing == [], f"Airflow DAG settings README.md and docs/ lack: {missing}"


def test_every_variable_the_docs_name_is_read_by_the_code() -> None:
    settings = {name for names in settings_variables().values() for name in names}
    settings |= dag_variables()
    code = code_text()
    unknown = sorted(
        name
        for name in set(_VARIABLE.findall(all_docs()))
        if name not in settings and not mentions(code, name)
    )
    assert unknown == [], f"variables the docs name but no setting or code reads: {unknown}"
