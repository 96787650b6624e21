"""The personal performance report of one cycle as a PDF, made on the server with ReportLab (pip only).

Chinese renders with ReportLab's built-in CID font STSong-Light (Adobe's Song, referenced, not embedded:
every PDF reader ships it), so no font file is vendored. The report holds what the scorecard page
shows, read from the same snapshot: the total, each dimension and item with its points, the KPI table with
actuals, targets and pace, the trend of the last 12 published cycles (a bar chart drawn with ReportLab's
graphics, the figures in a row beneath), and the comments."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from server.i18n import _, fmt_number

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8.5, leading=12, textColor=colors.HexColor("#555555"))
H1 = ParagraphStyle("h1", parent=BODY, fontSize=18, leading=24, spaceAfter=6)
H2 = ParagraphStyle("h2", parent=BODY, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4)
GRID = TableStyle([
    ("FONT", (0, 0), (-1, -1), FONT, 9), ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
])
TREND_GRID = TableStyle([
    ("FONT", (0, 0), (-1, -1), FONT, 7.5), ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2f6")), ("ALIGN", (1, 0), (-1, -1), "CENTER"),
])


def _num(value: object, digits: int = 1) -> str:
    return fmt_number(value, digits) if isinstance(value, int | float) else "–"


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def trend_drawing(periods: list[str], values: list[float | None]) -> Drawing:
    """The scores of the last periods as bars out of 100 (oldest on the left), drawn with ReportLab's
    graphics; a period without a score is left empty."""
    drawing = Drawing(170 * mm, 50 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 12 * mm, 8 * mm, 150 * mm, 38 * mm
    chart.data = [[float(v) if v is not None else 0.0 for v in values]]
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = chart.categoryAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = periods
    chart.bars[0].fillColor = colors.HexColor("#2f6f9f")
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = lambda v: _num(v) if v else ""
    chart.barLabels.fontName, chart.barLabels.fontSize, chart.barLabels.nudge = FONT, 7, 6
    drawing.add(chart)
    return drawing


def build(context: dict, missing: dict[str, str]) -> bytes:
    """The PDF of a scorecard (the context `views.scorecard` returns)."""
    score, snap, template = context["score"], context["snap"], context["tpl"]
    story: list = [_p(_("Personal performance report"), SMALL), _p(f"{score['rep_name']} · {snap['period']}", H1)]
    total = context["value"]
    line = _("Score: %(total)s / 100", total=_num(total))
    if score.get("calibrated") is not None:
        line += " (" + _("adjusted by calibration") + ")"
    story += [_p(line, H2), _p(template.name, SMALL)]

    story.append(_p(_("Scorecard"), H2))
    rows: list[list] = [[_("Item"), _("Weight"), _("Points"), _("Share of the total")]]
    for d in template.dimensions:
        dr = snap["dimensions"].get(str(d.id), {})
        rows.append([_p(d.name, H2), f"{_num((dr.get('weight') or 0) * 100, 0)} %", _num(dr.get("points")), ""])
        for item in d.items:
            r = snap["items"].get(str(item.id), {})
            name = item.name if not r.get("missing") else f"{item.name} ({_(missing.get(r['missing'], r['missing']))})"
            rows.append([_p(name), f"{_num((r.get('weight') or 0) * 100, 0)} %", _num(r.get("points"), 0),
                         f"{_num((r.get('share') or 0) * 100)} %"])
    story.append(Table(rows, colWidths=[95 * mm, 25 * mm, 20 * mm, 30 * mm], style=GRID, repeatRows=1))

    kpis = [(item, snap["items"].get(str(item.id), {})) for item in template.sources("kpi")]
    if kpis:
        story.append(_p(_("KPIs, targets and pace"), H2))
        rows = [[_("KPI"), _("Actual"), _("Target"), _("Target to date"), _("Pace")]]
        for item, r in kpis:
            pace = (r["actual"] / r["target_to_date"] if isinstance(r.get("actual"), int | float)
                    and r.get("target_to_date") else None)
            rows.append([_p(item.name), _num(r.get("actual"), 2), _num(r.get("target"), 2),
                         _num(r.get("target_to_date"), 2), f"{_num(pace * 100, 0)} %" if pace is not None else "–"])
        story.append(Table(rows, colWidths=[60 * mm, 28 * mm, 28 * mm, 30 * mm, 24 * mm], style=GRID, repeatRows=1))

    story.append(_p(_("Trend"), H2))
    past = list(reversed(context["past"]))
    if past:
        values = [p["calibrated"] if p["calibrated"] is not None else p["total"] for p in past]
        story.append(trend_drawing([p["period"] for p in past], values))
        rows = [[_("Period"), *[p["period"] for p in past]], [_("Score"), *[_num(v) for v in values]]]
        story.append(Table(rows, style=TREND_GRID))
    else:
        story.append(_p(_("No published scorecard yet."), SMALL))

    story.append(_p(_("Comments"), H2))
    found = False
    for item in template.items():
        for c in context["comments"].get(str(item.id), []):
            who = _("Manager's comment") if c["role"] == "manager" else _("Self rating")
            story.append(_p(f"{item.name} · {who}: {c['comment']}"))
            found = True
    for h in context["history"]:
        story.append(_p(f"{_('Changes')}: {h['detail'].get('reason', '')}", SMALL))
        found = True
    if score.get("reply"):
        story.append(_p(f"{_('Your reply:')} {score['reply']}"))
        found = True
    if not found:
        story.append(_p("–", SMALL))
    story += [Spacer(1, 6 * mm), _p(_("Formula version %(v)s; computed from the snapshot of %(day)s.",
                                      v=snap.get("formula", ""), day=snap.get("as_of", "")), SMALL)]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=f"{score['rep_name']} {snap['period']}", author="Fieldpace")
    doc.build(story)
    return buffer.getvalue()
