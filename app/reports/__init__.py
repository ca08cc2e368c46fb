"""PDF reports for leaders: 一村一图 sheets, 乡镇 and 县 体检报告 (fpdf2 + matplotlib).

Pure builders: :class:`ReportInputs` (frames) in, PDF bytes out, shared by the app's
download buttons and ``python -m scripts.report``. No Streamlit, no tiles, no browser: the
maps are drawn with matplotlib from the frames the web maps use, the Chinese font (Noto
Sans CJK) is embedded, so a report is the same made offline or online.
"""

from app.reports.area import area_kpis, county_report, township_report
from app.reports.inputs import ReportInputs, data_source, report_inputs
from app.reports.pdf import ReportError, ReportMeta, cjk_font
from app.reports.village import village_report, villages_report

__all__ = [
    "ReportError",
    "ReportInputs",
    "ReportMeta",
    "area_kpis",
    "cjk_font",
    "county_report",
    "data_source",
    "report_inputs",
    "township_report",
    "village_report",
    "villages_report",
]
