"""docs/glossary.md and the chapters agree: every Chinese name a chapter glosses is in the glossary, under the
English term the chapter glosses, with the chapter that glosses it first; and every chapter links the glossary.

A chapter glosses a term in its markdown as "English (中文)"; extra words inside the parentheses are fine
("the weights (the initialisation, 初始化)"). Only chapters that link the glossary are checked, so a new
chapter is checked as soon as it links it: add a row "| English | 中文 | NN |" for each term it introduces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat
import pytest

from course_lib.config import PROJECT_ROOT

GLOSSARY = PROJECT_ROOT / "docs" / "glossary.md"
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: The link each chapter carries, relative to notebooks/ (it works in JupyterLab and on GitHub).
LINK = "../docs/glossary.md"
#: Chapters whose prose pass (issue 14) links the glossary on another branch: take each out when it does.
NOT_LINKED_YET: set[str] = set()
CJK = "\u4e00-\u9fff"
#: "(...)" holding at least one Chinese character; ASCII or full-width parentheses.
GLOSS = re.compile(rf"[(（]([^()（）]*[{CJK}][^()（）]*)[)）]")
#: How far before "(" the English term may stand ("the **feature map**" and a line break fit).
ENGLISH_WINDOW = 60


@dataclass(frozen=True)
class Row:
    english: str
    chinese: str
    chapter: str

    @property
    def terms(self) -> set[str]:
        """The Chinese names in the row: its comma-separated parts with Chinese characters, remarks in
        parentheses dropped ("logits, 未归一化的对数概率 (对数几率, log-odds, ...)" has one: 未归一化的对数概率)."""
        return set(chinese_parts(re.sub(r"\([^()]*\)", "", self.chinese)))

    @property
    def english_names(self) -> set[str]:
        """The English names a chapter may use: "multilayer perceptron (MLP)" gives both, "dimension, axis" both."""
        return {normalise(part) for part in re.split(r"[,()]", self.english) if part.strip()}


@dataclass(frozen=True)
class Gloss:
    chapter: str
    term: str
    context: str  # the text just before the "(" and inside the parentheses, normalised


def normalise(text: str) -> str:
    """Lower case, without markdown emphasis or code marks, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`]", "", text)).strip().lower()


def chinese_parts(text: str) -> list[str]:
    """The comma- or semicolon-separated parts of ``text`` that hold a Chinese character, emphasis removed."""
    return [re.sub(r"[*_`]", "", part).strip() for part in re.split(r"[,，;；]", text) if re.search(f"[{CJK}]", part)]


def glossary_rows() -> list[Row]:
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) == 3 and cells[0] != "English" and not set(cells[0]) <= set("-: "):
            rows.append(Row(*cells))
    return rows


def markdown(path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]


def glosses(path) -> list[Gloss]:
    """Every "English (中文)" of a chapter's markdown, in order."""
    found = []
    for text in markdown(path):
        for match in GLOSS.finditer(text):
            context = normalise(text[max(0, match.start() - ENGLISH_WINDOW) : match.start()] + " " + match.group(1))
            found += [Gloss(path.stem[:2], term, context) for term in chinese_parts(match.group(1))]
    return found


def links_glossary(path) -> bool:
    return any(f"]({LINK})" in text or f"]({LINK}#" in text for text in markdown(path))


LINKED = [path for path in NOTEBOOKS if links_glossary(path)]


def row_of(term: str) -> Row | None:
    return next((row for row in glossary_rows() if term in row.terms), None)


def first_glossed() -> dict[str, str]:
    """Chinese term -> the first linked chapter that glosses it."""
    first: dict[str, str] = {}
    for path in LINKED:
        for gloss in glosses(path):
            first.setdefault(gloss.term, gloss.chapter)
    return first


def test_the_glossary_is_a_well_formed_table():
    rows = glossary_rows()
    assert len(rows) > 50
    seen: dict[str, Row] = {}
    for row in rows:
        assert re.fullmatch(r"\d\d", row.chapter), f"{row}: the chapter column holds a two-digit chapter number"
        assert row.terms, f"{row}: the 中文 column needs a Chinese name"
        for term in row.terms:
            assert term not in seen, f"{term} is in two rows: {seen[term]} and {row}"
            seen[term] = row
    chapters = [row.chapter for row in rows]
    assert chapters == sorted(chapters), "rows are in the order the chapters introduce them"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(path, marks=pytest.mark.xfail(strict=True, reason="links the glossary on its own branch"))
        if path.stem in NOT_LINKED_YET
        else path
        for path in NOTEBOOKS
    ],
    ids=lambda p: p.stem,
)
def test_every_chapter_links_the_glossary(path):
    assert links_glossary(path), f"{path.name}: link the glossary where the first term is glossed: [...]({LINK})"
    assert (path.parent / LINK).resolve() == GLOSSARY


@pytest.mark.parametrize("path", LINKED, ids=lambda p: p.stem)
def test_every_glossed_term_is_in_the_glossary_under_its_english_name(path):
    for gloss in glosses(path):
        row = row_of(gloss.term)
        assert row is not None, (
            f"{path.name} glosses {gloss.term!r} ({gloss.context!r}), which is not in "
            f"docs/glossary.md: add a row | English | {gloss.term} | {gloss.chapter} |"
        )
        assert any(name in gloss.context for name in row.english_names), (
            f"{path.name} glosses {gloss.term!r} after {gloss.context!r}, but the glossary gives it for "
            f"{row.english!r}: one of {sorted(row.english_names)} should stand just before the parentheses"
        )


def test_each_row_names_the_chapter_that_first_glosses_it():
    first = first_glossed()
    linked_chapters = {path.stem[:2] for path in LINKED}
    assert linked_chapters, "no chapter links the glossary"
    for row in glossary_rows():
        glossed = {first[term] for term in row.terms if term in first}
        if glossed:
            assert row.chapter == min(glossed), (
                f"{row.english} ({', '.join(sorted(row.terms))}) is first glossed in chapter {min(glossed)}, "
                f"but the glossary says {row.chapter}"
            )
        elif row.chapter in linked_chapters:
            raise AssertionError(
                f"the glossary says chapter {row.chapter} introduces {row.english} "
                f"({', '.join(sorted(row.terms))}), but that chapter never glosses it"
            )


def test_gloss_extraction():
    """The pattern reads what the chapters write, and nothing else."""
    text = (
        "A tensor (张量) and the weights (the initialisation, 初始化); "
        '**define-by-run** (动态图, "eager"); a plain remark (not Chinese); $H(p)\\text{, entropy (熵)}$'
    )
    terms = [term for match in GLOSS.finditer(text) for term in chinese_parts(match.group(1))]
    assert terms == ["张量", "初始化", "动态图", "熵"]
    assert Row(
        "logits (unnormalised log-probabilities)", "logits, 未归一化的对数概率 (对数几率, log-odds)", "02"
    ).terms == {"未归一化的对数概率"}
    assert Row("dimension, axis", "维度", "01").english_names == {"dimension", "axis"}
