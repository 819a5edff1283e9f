"""Every `python -m privgan_runner` command the README and the docs pages show is accepted as written: composed,
built and checked against its data with check_only=true (a sweep: each swept value in turn), so no command a user
copies is refused for its configuration."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from privgan_runner.errors import ConfigError, DatasetNotFoundError

from .conftest import REPO, compose_config

COMMAND = "python -m privgan_runner"


def commands_in(text: str) -> list[str]:
    """The runner's command lines in `text` (continuation lines joined; a venv's python counts as python, and
    the installed `privgan-runner` as the module)."""
    start = re.compile(r"(?:\S*/)?(?:python -m privgan_runner|privgan-runner)(?=\s|$)")
    commands, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current:
            found = start.match(stripped)
            if not found:
                continue
            stripped = COMMAND + stripped[found.end() :]
        current = f"{current} {stripped}".strip()
        if current.endswith("\\"):
            current = current[:-1]
            continue
        commands.append(current)
        current = ""
    return commands


def documents() -> str:
    """The README and every docs page, one text."""
    return "\n".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])


def readme_commands() -> list[str]:
    """The commands of the README's and the docs pages' code blocks and of their inline code."""
    text = documents()
    return commands_in(text) + re.findall(r"`(" + re.escape(COMMAND) + r" [^`]*)`", text)


def make_commands() -> list[str]:
    """What the README's `make` reproduction lines run (make -n: printed, not run); the test targets and
    `make data` (root) aside."""
    lines = re.findall(r"^    (make (?!test|data|docs|gpu-check)[^#\n]*)", documents(), re.M)
    out = []
    for line in lines:
        printed = subprocess.run([*shlex.split(line), "-n"], cwd=REPO, capture_output=True, text=True, check=True)
        out += [c for c in commands_in(printed.stdout) if "$" not in c]  # a shell loop's body: its own case
    return out


def trained_by_the_readme() -> set[str]:
    """The sweep folders the README's commands train into."""
    return {m for c in readme_commands() for m in re.findall(r"hydra\.sweep\.dir=(\S+)", c)}


def _values(value: str) -> list[str]:
    """A swept value's choices: `a,b,c` (outside brackets) or `range(a,b)`; else the value itself."""
    found = re.fullmatch(r"range\((\d+),(\d+)\)", value)
    if found:
        return [str(v) for v in range(int(found[1]), int(found[2]))]
    if "[" in value or "," not in value:
        return [value]
    return value.split(",")


def jobs(command: str) -> list[list[str]]:
    """The overrides of the jobs to check: the command's, with each swept key taking each of its values in
    turn (the others their first); Hydra's own keys (run folders, launchers) are left to Hydra."""
    words = shlex.split(command, comments=True)[len(COMMAND.split()) :]
    overrides = [w for w in words if w not in ("-m", "--multirun") and not w.startswith("hydra")]
    choices = [(o.split("=", 1)[0], _values(o.split("=", 1)[1]) if "=" in o else None) for o in overrides]
    first = [f"{k}={v[0]}" if v else k for k, v in choices]
    out = [first]
    for i, (key, values) in enumerate(choices):
        for value in (values or [])[1:]:
            out.append([*first[:i], f"{key}={value}", *first[i + 1 :]])
    return out


def runnable_as_written(command: str) -> bool:
    """Not `--help`, and not the extension example, which names the user's own config folder."""
    return "--help" not in command and "hydra.searchpath" not in command


CASES = [(c, j) for c in readme_commands() + make_commands() if runnable_as_written(c) for j in jobs(c)]
CASES = [case for i, case in enumerate(CASES) if case[1] not in [j for _, j in CASES[:i]]]  # each job once


def test_the_readme_shows_commands_and_sweeps_expand():
    assert len(readme_commands()) >= 10 and len(make_commands()) >= 8
    assert jobs(f"{COMMAND} -m seed=0,1 regularizer=none hydra.run.dir=x  # a comment") == [
        ["seed=0", "regularizer=none"],
        ["seed=1", "regularizer=none"],
    ]


@pytest.mark.slow  # loads each command's dataset
@pytest.mark.parametrize("command,overrides", CASES, ids=[" ".join(j) for _, j in CASES])
def test_a_readme_command_is_accepted_as_written(command, overrides, tmp_path):
    from privgan_runner.pipeline import run

    cfg = compose_config(*overrides, "check_only=true")
    try:
        checked = run(cfg, run_dir=tmp_path / "run")
    except DatasetNotFoundError:  # not on this machine (LFW, CIFAR-10): the configuration itself was built
        pytest.skip(f"{cfg.dataset.name} is not on this machine")
    except ConfigError as exc:  # LiRA's shadows are trained by the README command before this one
        shadows = cfg.attack.get("lira", {}).get("shadow_dir")
        if exc.key != "attack.lira.shadow_dir" or shadows not in trained_by_the_readme():
            raise
        pytest.skip(f"needs the shadow runs the README trains into {shadows} first")
    assert checked["status"] == "checked", command
    assert not (tmp_path / "run").exists()  # a check writes nothing
