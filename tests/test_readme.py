"""The README stays a short user's guide that agrees with the CLI, the Makefile and the docs folder.

* README.md is at most 15,000 bytes (measurements live in docs/, e.g. docs/speed.md);
* every ``adcgan ...`` command line in its code blocks (and in docs/cli.md's) parses with ``adcgan.cli``'s own parser, and every
  ``--flag`` on it is an option of that (sub)command, spelled out in full (nothing is executed);
* every ``make X`` shown names a target of the Makefile;
* every relative Markdown link in README.md and docs/*.md points at an existing file.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_BYTES = 15_000
SHELL_OPERATORS = set("();<>|&")
FENCE = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


# ---------------------------------------------------------------- helpers (also used by the unit tests below)

def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text."""
    return [m.group(2) for m in FENCE.finditer(text)]


def without_code(text: str) -> str:
    """A Markdown text with its fenced code blocks and inline code spans blanked (for the link check)."""
    return INLINE_CODE.sub("``", FENCE.sub("", text))


def command_lines(text: str, program: str) -> list[str]:
    """Lines of the code blocks that run ``program`` (also after a ``$ `` prompt); ``\\`` continuations joined."""
    found = []
    for block in code_blocks(text):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1].rstrip() + " " + lines[i].strip()
            i += 1
            if line.startswith("$ "):
                line = line[2:].lstrip()
            if line.startswith(program + " "):
                found.append(line)
    return found


def shell_words(line: str) -> list[str]:
    """The words of one command, up to the first shell operator (pipe, redirection, ``&&``, ``;``) or comment."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    words: list[str] = []
    for word in lex:
        if word and set(word) <= SHELL_OPERATORS:
            if words and words[-1].isdigit() and word[0] in "<>":   # 2>&1, 2> file: the fd is not an argument
                words.pop()
            break
        words.append(word)
    return words


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_problems(line: str, parser: argparse.ArgumentParser | None = None) -> list[str]:
    """What is wrong with one ``adcgan ...`` line: an unknown subcommand, a flag the (sub)command does not
    have (abbreviations count as wrong: a README spells flags out), or anything else argparse refuses."""
    if parser is None:
        from adcgan.cli import build_parser
        parser = build_parser()
    words = shell_words(line)[1:]
    if not words:
        return [f"{line!r}: no subcommand"]
    problems: list[str] = []
    current, path = parser, "adcgan"
    subs = _subcommands(current)
    expect_value = False
    for word in words:
        if expect_value:
            expect_value = False
            continue
        if word.startswith("-") and word != "-":
            flag = word.split("=", 1)[0]
            action = current._option_string_actions.get(flag)
            if action is None:
                problems.append(f"{line!r}: {path} has no option {flag}")
                continue
            expect_value = "=" not in word and action.nargs != 0
            continue
        if word in subs:
            current, path = subs[word], f"{path} {word}"
            subs = _subcommands(current)
        elif subs and current is parser:
            problems.append(f"{line!r}: no subcommand {word!r} (have {', '.join(subs)})")
            return problems
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(words)
    except SystemExit as exc:
        if exc.code not in (0, None):
            msg = err.getvalue().strip().splitlines()
            problems.append(f"{line!r}: argparse refuses it: {msg[-1] if msg else exc.code}")
    return problems


def make_targets_shown(text: str) -> list[str]:
    """The targets of every ``make ...`` in code (fenced blocks and inline spans); ``VAR=value`` skipped."""
    code = code_blocks(text) + INLINE_CODE.findall(text)
    targets = []
    for chunk in code:
        for line in chunk.splitlines():
            for m in re.finditer(r"(?:^|[\s;&|(])make((?:\s+[^\s#;&|]+)*)", line):
                for word in m.group(1).split():
                    if word.startswith("-"):
                        continue
                    if "=" in word or "\"" in word or "'" in word:
                        break               # VAR="..." (the rest belongs to the value)
                    targets.append(word)
    return targets


def makefile_targets(path: Path) -> set[str]:
    """Rule names of a Makefile (``name:`` lines, not ``VAR :=`` assignments)."""
    names = set()
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.%/$(){}-][^:=#\s]*(?:\s+[^:=#\s]+)*)\s*:(?!=)", line)
        if m and not line.startswith("\t"):
            names.update(m.group(1).split())
    return names


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown text's headings: lower case, punctuation and symbols dropped, spaces
    to hyphens, ``-1``, ``-2``, ... for repeats."""
    anchors: set[str] = set()
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", text), re.M):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))           # [text](url) -> text
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        n, anchor = 0, slug
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def broken_links(md: Path, root: Path = ROOT) -> list[str]:
    """Relative links of one Markdown file (code excluded) whose target file, or heading anchor in a
    Markdown target, does not exist."""
    bad = []
    for target in LINK.findall(without_code(md.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue                        # http:, https:, mailto:
        rel, _, anchor = target.partition("#")
        path = md.parent / rel.split("?", 1)[0] if rel else md
        if not path.exists():
            bad.append(f"{md.relative_to(root)}: link to {target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in heading_anchors(path.read_text()):
            bad.append(f"{md.relative_to(root)}: link to {target} (no such heading in {path.name})")
    return bad


# ---------------------------------------------------------------- the checks on the repository

def test_readme_is_a_short_guide():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, (f"README.md is {size:,} bytes (limit {README_MAX_BYTES:,}): move measurements "
                                      "and details to docs/ (docs/speed.md, docs/cli.md, ...)")


@pytest.mark.parametrize("page, must_show", [
    ("README.md", {"train", "evaluate", "score", "bench"}),
    ("docs/cli.md", {"train", "evaluate", "score", "export", "rescore", "info", "bench"}),
])
def test_every_adcgan_command_shown_parses(page, must_show):
    from adcgan.cli import build_parser

    parser = build_parser()
    lines = command_lines((ROOT / page).read_text(), "adcgan")
    shown = {shell_words(line)[1] for line in lines}
    assert must_show <= shown, f"{page} shows the CLI in code blocks"
    problems = [p for line in lines for p in command_problems(line, parser)]
    assert not problems, "\n".join(problems)


def test_every_make_target_in_the_readme_exists():
    shown = make_targets_shown(README.read_text())
    assert {"demo", "test"} <= set(shown)
    missing = sorted(set(shown) - makefile_targets(ROOT / "Makefile"))
    assert not missing, f"README shows make target(s) the Makefile lacks: {', '.join(missing)}"


def test_relative_links_of_readme_and_docs_resolve():
    files = [README, *sorted((ROOT / "docs").glob("*.md"))]
    bad = [b for f in files for b in broken_links(f)]
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- the checker itself

FAKE_README = """# x

```bash
$ adcgan train --dataset fashion-mnist --class Trouser --made-up-flag 3 --out runs/x
adcgan score --model runs/x photos/ | sort -t, -k2 -g --not-ours      # pipe tail ignored
adcgan evaluate --model runs/x \\
    --scheme one-vs-all --out runs/e 2>&1
adcgan frobnicate --out x
adcgan bench merge --db all.db a.db b.db
adcgan bench report --db s.db --out r --workers 2
adcgan train --scheme none-vs-all --out x
make demo DEMO_BUDGET="--epochs 15 --warmup-epochs 5"
```

Run `make test`, or `make no-such-target`; see [speed](docs/speed.md) and [gone](docs/gone.md#x),
[web](https://example.org), [here](#x), [missing heading](#y), [there](docs/speed.md#the-b-table-2-a-1).
In code: `[not a link](nowhere.md)`.
"""


def test_checker_finds_commands_after_prompts_and_continuations():
    lines = command_lines(FAKE_README, "adcgan")
    assert len(lines) == 7
    assert lines[2] == "adcgan evaluate --model runs/x --scheme one-vs-all --out runs/e 2>&1"
    assert shell_words(lines[1]) == ["adcgan", "score", "--model", "runs/x", "photos/"]
    assert shell_words(lines[2])[-2:] == ["--out", "runs/e"]


def test_checker_fails_on_a_made_up_flag_and_passes_good_lines():
    from adcgan.cli import build_parser

    parser = build_parser()
    lines = command_lines(FAKE_README, "adcgan")
    made_up = command_problems(lines[0], parser)
    assert made_up and "adcgan train has no option --made-up-flag" in made_up[0]
    assert command_problems(lines[1], parser) == []        # the flag after the pipe is sort's
    assert command_problems(lines[2], parser) == []
    assert "no subcommand 'frobnicate'" in command_problems(lines[3], parser)[0]
    assert command_problems(lines[4], parser) == []
    assert "adcgan bench report has no option --workers" in command_problems(lines[5], parser)[0]
    assert "argparse refuses it" in command_problems(lines[6], parser)[0]   # a bad choice
    assert command_problems("adcgan train --ou x", parser)                 # abbreviations are not accepted


def test_checker_reads_make_targets_and_links(tmp_path):
    assert make_targets_shown(FAKE_README) == ["demo", "test", "no-such-target"]
    assert {"demo", "test", "bench-speed"} <= makefile_targets(ROOT / "Makefile")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "speed.md").write_text("# The `b` table: 2 [a](x.md)\n\n## The b table, 2 a\n")
    fake = tmp_path / "README.md"
    fake.write_text(FAKE_README)
    assert broken_links(fake, root=tmp_path) == ["README.md: link to docs/gone.md#x (no such file)",
                                                 "README.md: link to #y (no such heading in README.md)"]
    assert heading_anchors("## `make demo`: ROC-AUC run to run\n") == {"make-demo-roc-auc-run-to-run"}
    assert heading_anchors("## 28×28 train\n```\n# not a heading\n```\n") == {"2828-train"}


@pytest.mark.parametrize("line, words", [
    ("adcgan info > out.txt", ["adcgan", "info"]),
    ("adcgan info && echo done", ["adcgan", "info"]),
    ("adcgan info; ls", ["adcgan", "info"]),
    ("adcgan train --set 'a=b c' --out x  # note", ["adcgan", "train", "--set", "a=b c", "--out", "x"]),
])
def test_shell_tails_are_dropped(line, words):
    assert shell_words(line) == words


def test_readme_shows_the_tested_sklearn_example() -> None:
    """The README's scikit-learn block is docs/sklearn_example.py (which tests/test_api_contract.py runs)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- sklearn-example -->\n```python\n", 1)[1].split("\n```\n<!-- sklearn-example-end -->")[0]
    example = (ROOT / "docs" / "sklearn_example.py").read_text(encoding="utf-8").split('"""', 2)[2].strip("\n")
    assert block == example
