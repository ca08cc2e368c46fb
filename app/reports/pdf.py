"""The report page: A4, Chinese fonts embedded, a title block, tables and maps (fpdf2).

fpdf2 embeds a subset of the CJK font (Noto Sans CJK SC, CFF outlines, as ``CID Type 0C``),
so the PDF opens the same on any machine and its text can be searched and copied
(``pdftotext``). The same font is the one the static maps use (:func:`cjk_font`).
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from fpdf import FPDF
from fpdf.enums import TableHeadingsDisplay
from fpdf.fonts import FontFace

from geo.labels import MISSING_ZH, UNREACHABLE_ZH
from layers.errors import GapMapError

__all__ = [
    "CJK_FAMILIES",
    "CjkFont",
    "ReportDocument",
    "ReportError",
    "ReportMeta",
    "cell_text",
    "cjk_font",
]

logger = logging.getLogger(__name__)

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
)
"""Font families tried for Chinese text, in order (Debian: ``fonts-noto-cjk``)."""

PAGE_W_MM, PAGE_H_MM = 210.0, 297.0
MARGIN_MM = 14.0
BODY_W_MM = PAGE_W_MM - 2 * MARGIN_MM
HEAD_FILL = (232, 240, 248)
PROBLEM_RGB = (198, 40, 40)
OK_RGB = (46, 125, 50)
MUTED_RGB = (90, 90, 90)


class ReportError(GapMapError, RuntimeError):
    """A report cannot be made (no Chinese font, an unknown village or township …)."""


@dataclass(frozen=True)
class CjkFont:
    """A font file with Chinese glyphs and, for a collection (.ttc), the face's index."""

    regular: Path
    regular_index: int
    bold: Path
    bold_index: int
    family: str = ""
    """The family name in matplotlib's font list (empty for a file named by the user)."""


_CJK_FILE_HINTS = ("notosanscjk", "sourcehansans", "notosanssc", "wqy-zenhei", "wqy-microhei")


def _listed_cjk_font() -> CjkFont | None:
    """The first of :data:`CJK_FAMILIES` in matplotlib's font list, or None."""
    from matplotlib import font_manager

    entries = font_manager.fontManager.ttflist
    for family in CJK_FAMILIES:
        faces = [f for f in entries if f.name == family]
        if not faces:
            continue
        normal = [f for f in faces if f.weight in ("normal", "regular", 400)] or faces
        bold = [f for f in faces if f.weight in ("bold", 700)] or normal
        r, b = normal[0], bold[0]
        logger.debug("CJK font %s: %s (%s), bold %s", family, r.fname, r.index, b.fname)
        return CjkFont(Path(r.fname), int(r.index), Path(b.fname), int(b.index), family)
    return None


@lru_cache(maxsize=1)
def cjk_font() -> CjkFont:
    """Find the Chinese font the reports embed (and the static maps draw with).

    ``GAPMAP_CJK_FONT`` (a ``.ttf``/``.otf`` file, or ``file.ttc:index``) wins; otherwise
    the first of :data:`CJK_FAMILIES` that matplotlib's font list has (it lists every
    face of a collection with its index), with its bold face where there is one. A font
    installed after matplotlib cached its list is found among the system's font files.

    Raises
    ------
    ReportError
        When no Chinese font is installed, saying how to install one.
    """
    from matplotlib import font_manager

    chosen = os.environ.get("GAPMAP_CJK_FONT", "").strip()
    if chosen:
        path, _, index = chosen.partition(":") if chosen.count(":") == 1 else (chosen, "", "")
        p = Path(path)
        if not p.is_file():
            raise ReportError(
                f"GAPMAP_CJK_FONT={chosen!r}: no such font file",
                zh=f"环境变量 GAPMAP_CJK_FONT 指定的字体文件不存在：{chosen}。请改为一个中文"
                "字体文件（.ttf/.otf，或 文件.ttc:序号），或删除该变量以使用系统字体。",
            )
        i = int(index or 0)
        return CjkFont(p, i, p, i)
    found = _listed_cjk_font()
    if found is None:  # installed after matplotlib cached its font list: add the files
        for path in font_manager.findSystemFonts():
            if any(k in Path(path).name.lower() for k in _CJK_FILE_HINTS):
                font_manager.fontManager.addfont(path)
        found = _listed_cjk_font()
    if found is not None:
        return found
    raise ReportError(
        "no Chinese font found (tried " + ", ".join(CJK_FAMILIES) + "); install fonts-noto-cjk",
        zh="未找到中文字体，无法生成 PDF。请安装思源黑体（Debian/Ubuntu：sudo apt-get install "
        "fonts-noto-cjk），或用环境变量 GAPMAP_CJK_FONT 指定一个中文字体文件。",
    )


@dataclass(frozen=True)
class ReportMeta:
    """What the title block and every page footer say about the data.

    Attributes
    ----------
    county : str
        County name (同心县).
    data_name : str
        The dataset's name as the user knows it (演示数据, a file name).
    data_version : str
        The dataset's content hash (the first 12 hex digits are printed).
    source : str
        Where the data came from, per layer ``source`` values (模拟, 第三次国土调查 …).
    synthetic : bool
        Any layer marked ``source = 模拟``: every page then says 模拟数据.
    profile : str
        The settings profile the analyses ran with.
    scenario : str
        ``current`` (现状) or ``planned`` (规划).
    generated_at : datetime
        When the report was made (timezone-aware; printed in Beijing time).
    """

    county: str
    data_name: str
    data_version: str
    source: str
    synthetic: bool
    profile: str
    scenario: str
    generated_at: datetime

    @property
    def when(self) -> str:
        """``2026-12-02 18:40（北京时间）``."""
        from geo.ledger.states import beijing_time

        return beijing_time(self.generated_at.isoformat())

    @property
    def version(self) -> str:
        """The short data version printed on every page."""
        return self.data_version[:12]


def cell_text(value: object, *, digits: int = 1) -> str:
    """A table cell as a leader reads it: 1,234 / 12.3 / 是 / 否 / — (never None, nan, inf)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING_ZH
    if isinstance(value, bool | np.bool_):
        return "是" if value else "否"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return MISSING_ZH
        if math.isinf(x):
            return UNREACHABLE_ZH if x > 0 else MISSING_ZH
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        return f"{x:,.{digits}f}"
    text = str(value).strip()
    return text if text and text.lower() not in {"nan", "none", "<na>"} else MISSING_ZH


class ReportDocument(FPDF):
    """An A4 report: running header, page x / y footer with the data version, CJK text.

    Parameters
    ----------
    title : str
        The running title (every page's header).
    meta : ReportMeta
    """

    def __init__(self, *, title: str, meta: ReportMeta) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.meta = meta
        self.running_title = title
        font = cjk_font()
        self.add_font("cjk", "", str(font.regular), collection_font_number=font.regular_index)
        self.add_font("cjk", "B", str(font.bold), collection_font_number=font.bold_index)
        self.set_margins(MARGIN_MM, MARGIN_MM + 4, MARGIN_MM)
        self.set_auto_page_break(auto=True, margin=MARGIN_MM + 4)
        self.set_title(title)
        self.set_author("GapMap 乡村短板一张图")
        self.set_creator("GapMap")
        self.set_creation_date(meta.generated_at)
        self.set_lang("zh-CN")
        self.set_font("cjk", size=10)

    # -- page furniture -------------------------------------------------------------------
    def header(self) -> None:  # fpdf2 hook
        self.set_font("cjk", size=8)
        self.set_text_color(*MUTED_RGB)
        self.set_xy(MARGIN_MM, 7)
        self.cell(BODY_W_MM / 2, 5, self.running_title)
        right = f"{self.meta.county} · {self.meta.when}"
        if self.meta.synthetic:
            right = "模拟数据 · " + right
        self.cell(BODY_W_MM / 2, 5, right, align="R")
        self.set_draw_color(200, 200, 200)
        self.line(MARGIN_MM, 12.5, PAGE_W_MM - MARGIN_MM, 12.5)
        self.set_text_color(0, 0, 0)
        self.set_xy(MARGIN_MM, MARGIN_MM + 4)
        self.set_font("cjk", size=10)

    def footer(self) -> None:  # fpdf2 hook
        self.set_y(-12)
        self.set_font("cjk", size=7.5)
        self.set_text_color(*MUTED_RGB)
        self.cell(
            BODY_W_MM * 0.7,
            5,
            f"GapMap 乡村短板一张图 · 数据版本 {self.meta.version} · 数据来源：{self.meta.source}",
        )
        self.cell(BODY_W_MM * 0.3, 5, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align="R")
        self.set_text_color(0, 0, 0)

    # -- blocks ---------------------------------------------------------------------------
    def title_block(self, title: str, lines: Sequence[tuple[str, str]]) -> None:
        """A sheet's title and its facts (县、乡镇、行政村、日期、数据版本、来源、设置)."""
        self.set_font("cjk", "B", 17)
        self.multi_cell(BODY_W_MM, 9, title, new_x="LMARGIN", new_y="NEXT")
        if self.meta.synthetic:
            self.set_font("cjk", "B", 9)
            self.set_text_color(*PROBLEM_RGB)
            self.multi_cell(
                BODY_W_MM,
                5,
                "模拟数据：本报告所用数据含模拟图层（source = 模拟），仅供演示和测试，"
                "不代表实际情况。",
                new_x="LMARGIN",
                new_y="NEXT",
            )
            self.set_text_color(0, 0, 0)
        facts = [
            *lines,
            ("生成时间", self.meta.when),
            ("数据", f"{self.meta.data_name}（版本 {self.meta.version}）"),
            ("数据来源", self.meta.source),
            ("计算设置", f"{self.meta.profile}；方案：{scenario_zh(self.meta.scenario)}"),
        ]
        self.ln(1)
        self.key_values(facts, columns=2)
        self.ln(2)

    def heading(self, text: str, *, level: int = 1, keep_mm: float = 30.0) -> None:
        """A section heading, on a new page when less than ``keep_mm`` are left under it."""
        if self.get_y() > PAGE_H_MM - MARGIN_MM - 4 - keep_mm:
            self.add_page()
        size = {1: 13, 2: 11}.get(level, 10)
        self.ln(2 if level > 1 else 3)
        self.set_font("cjk", "B", size)
        self.multi_cell(BODY_W_MM, size * 0.55, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)
        self.set_font("cjk", size=10)

    def paragraph(self, text: str, *, size: float = 9, color: tuple[int, int, int] | None = None):
        """Wrapped text across the page."""
        self.set_font("cjk", size=size)
        if color:
            self.set_text_color(*color)
        self.multi_cell(BODY_W_MM, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)

    def key_values(self, facts: Sequence[tuple[str, str]], *, columns: int = 2) -> None:
        """Label–value pairs in ``columns`` columns, with borders."""
        rows = [facts[i : i + columns] for i in range(0, len(facts), columns)]
        label_w = 24.0
        value_w = BODY_W_MM / columns - label_w
        self.set_font("cjk", size=9)
        with self.table(
            col_widths=[label_w, value_w] * columns,
            width=BODY_W_MM,
            first_row_as_headings=False,
            text_align="LEFT",
            line_height=5,
            padding=(0.8, 1.5),
        ) as table:
            for pairs in rows:
                row = table.row()
                for label, value in pairs:
                    row.cell(label, style=FontFace(emphasis="BOLD", fill_color=HEAD_FILL))
                    row.cell(value)
                for _ in range(columns - len(pairs)):
                    row.cell("")
                    row.cell("")

    def data_table(
        self,
        frame: pd.DataFrame,
        *,
        font_size: float = 8,
        widths: Sequence[float] | None = None,
        flag: pd.Series | None = None,
        empty_text: str = "（无）",
        digits: int = 1,
    ) -> None:
        """A whole table, headers repeated on every page, text wrapped, never cut.

        Parameters
        ----------
        frame : DataFrame
            Chinese headers; values as they are (:func:`cell_text` formats them).
        font_size : float
            Points.
        widths : sequence of float, optional
            Relative column widths; by default from the text lengths.
        flag : Series of bool, optional
            Rows drawn in red (the problems), aligned with ``frame``.
        empty_text : str
            Printed instead of an empty table.
        digits : int
            Decimals of non-integer numbers.
        """
        if frame.empty:
            self.paragraph(empty_text, size=9, color=MUTED_RGB)
            return
        texts = [[cell_text(v, digits=digits) for v in row] for row in frame.itertuples(False)]
        header = [str(c) for c in frame.columns]
        self.set_font("cjk", size=font_size)
        if widths is None:
            widths = self._auto_widths(header, texts)
        numeric = [
            pd.api.types.is_numeric_dtype(frame[c].dtype)
            and not pd.api.types.is_bool_dtype(frame[c].dtype)
            for c in frame.columns
        ]
        red = None if flag is None else np.asarray(flag, dtype=bool)
        with self.table(
            col_widths=list(widths),
            width=BODY_W_MM,
            headings_style=FontFace(emphasis="BOLD", fill_color=HEAD_FILL),
            repeat_headings=TableHeadingsDisplay.ON_TOP_OF_EVERY_PAGE,
            text_align=tuple("RIGHT" if n else "LEFT" for n in numeric),
            line_height=font_size * 0.48,
            padding=(0.6, 1.0),
        ) as table:
            head = table.row()
            for h in header:
                head.cell(h, align="CENTER")
            for i, cells in enumerate(texts):
                style = FontFace(color=PROBLEM_RGB) if red is not None and red[i] else None
                row = table.row(style=style)
                for c in cells:
                    row.cell(c)
        self.ln(1)

    def _auto_widths(self, header: list[str], texts: list[list[str]]) -> list[float]:
        """Column widths (mm) from the text, filling the page.

        A column's natural width is its cells' 90th-percentile text width or its header's
        longest line (headers wrap at about 6 characters), whichever is wider. Narrow
        columns (codes, names, numbers: up to 28 mm) keep theirs; the rest of the page
        goes to the wide ones (descriptions) in proportion to theirs, so a short column
        is never squeezed to wrap a 3-character name.
        """
        natural = []
        for j, h in enumerate(header):
            lengths = [self.get_string_width(r[j]) for r in texts[:400]]
            cell = float(np.percentile(lengths, 90)) if lengths else 0.0
            head = self.get_string_width(h) / max(1, math.ceil(len(h) / 6))
            natural.append(max(cell, head, 6.0) + 2.6)
        total = sum(natural)
        if total <= BODY_W_MM:
            return [w * BODY_W_MM / total for w in natural]
        narrow = [w if w <= 28.0 else 0.0 for w in natural]
        wide = [w if w > 28.0 else 0.0 for w in natural]
        room = BODY_W_MM - sum(narrow)
        if not any(wide) or room < 0.3 * BODY_W_MM:  # nothing to give: scale every column
            return [w * BODY_W_MM / total for w in natural]
        return [n or w * room / sum(wide) for n, w in zip(narrow, wide, strict=True)]

    def image_png(self, png: bytes, *, width_mm: float = BODY_W_MM, caption: str = "") -> None:
        """A map or chart (PNG bytes) across the page, kept on one page with its caption."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            w_px, h_px = im.size
        h_mm = width_mm * h_px / w_px
        if self.get_y() + h_mm + 6 > PAGE_H_MM - MARGIN_MM - 4:
            self.add_page()
        x = MARGIN_MM + (BODY_W_MM - width_mm) / 2
        self.image(io.BytesIO(png), x=x, y=self.get_y(), w=width_mm, h=h_mm)
        self.set_y(self.get_y() + h_mm + 1)
        if caption:
            self.paragraph(caption, size=8, color=MUTED_RGB)

    def to_bytes(self) -> bytes:
        """The finished PDF."""
        return bytes(self.output())


def scenario_zh(scenario: str) -> str:
    """现状 / 规划."""
    return {"current": "现状", "planned": "规划（规划项目按已建成计算）"}.get(scenario, scenario)
