"""The evaluation pages a manager or a rep opens per rep, over HTTP on SQLite and PostgreSQL: the rep's
period beside the manager's rating form (read from the score's snapshot), and the trend of the published
scores as a chart on the scorecard, its printable page and in the PDF."""

from __future__ import annotations

import io
import json
import re
from uuid import uuid4

from pypdf import PdfReader

from server import clock
from server.accounts import membership
from server.accounts.tables import TeamMembership
from server.targets import formulas
from tests.integration.test_evaluation import assignment, last_month, open_cycle, run_job, score_of, team  # noqa: F401


def publish(client, cycle) -> None:
    client.login("mgr_a")
    for state in ("open", "rating", "calibration"):
        assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": state}).status_code == 303


def test_the_managers_form_shows_the_reps_period_from_the_snapshot(client, team, settings):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    form = assignment(client, cycle, w.rep, w.manager, "manager")
    page = client.get(f"/evaluation/forms/{form}")
    # Before the first computation the panel says so.
    assert page.status_code == 200 and 'id="rep-period"' in page.text and "not computed yet" in page.text
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"})
    run_job(client, settings)
    snap = json.loads(score_of(client, cycle, w.rep)["snapshot"])
    _p, start, end = last_month()
    assert snap["summary"]["visits"] == 1 and snap["summary"]["working_days"] == formulas.working_days(start, end)
    page = client.get(f"/evaluation/forms/{form}")
    assert page.status_code == 200
    panel = page.text.split('id="rep-period"', 1)[1].split("</details>", 1)[0]
    # One visit on the period's first day, no daily report, revenue 8,000 of 10,000 expected.
    assert re.search(r"Visits</dt><dd>1 ", panel)
    assert f"0 of {formulas.working_days(start, end)} working days" in panel
    assert "pace 80 %: 8,000.00 of 10,000.00 expected to date" in panel
    # The rep's own form has no such panel, and another manager's form is not theirs to open.
    client.login("rep_a1")
    mine = client.get(f"/evaluation/forms/{assignment(client, cycle, w.rep, w.rep, 'self')}")
    assert mine.status_code == 200 and 'id="rep-period"' not in mine.text
    assert client.get(f"/evaluation/forms/{form}").status_code == 404


def test_the_trend_of_published_scores_is_a_chart_on_the_page_and_in_the_pdf(client, team, settings):
    w = team["world"]
    # rep_a1 joined Team A on last month's first day (their membership from then on).
    _p, start, _e = last_month()
    client.run(TeamMembership.insert(TeamMembership(
        id=uuid4(), rep=w.rep, team=w.team_a, valid_from=start, valid_to=None, starts_at=membership.midnight(start),
        ends_at=None, created_by=None, created_at=clock.now())))
    first = clock.today().replace(day=1)
    earlier = formulas.month_code(*((first.year, first.month - 2) if first.month > 2 else (first.year - 1, first.month + 10)))
    older = open_cycle(client, w.team_a, earlier)
    publish(client, older)
    cycle = open_cycle(client, w.team_a, team["period"])
    publish(client, cycle)
    score = score_of(client, cycle, w.rep)
    client.login("rep_a1")
    for path in (f"/evaluation/scores/{score['id']}", f"/evaluation/scores/{score['id']}/print"):
        page = client.get(path)
        assert page.status_code == 200
        chart = page.text.split('class="trend-chart"', 1)[1].split("</figure>", 1)[0]
        # The earlier month is before the rep joined: no score, no bar, a dash in the chart's description.
        assert "<svg" in chart and chart.count('class="bar"') == 1 and f"{earlier}: –" in chart
        assert chart.index(earlier) < chart.index(team["period"])  # oldest on the left
    pdf = client.get(f"/evaluation/scores/{score['id']}/report.pdf")
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    # The drawn chart's axis (0 to 100 by 20) and both periods, beside the figures.
    assert all(str(v) in text for v in (20, 40, 60, 80, 100)) and earlier in text and team["period"] in text
    # A rep with a single published cycle has a one-bar chart; none at all before the first.
    client.login("mgr_a")
    assert client.get(f"/evaluation/scores/{score_of(client, older, w.rep)['id']}").status_code == 200


def test_the_pdf_trend_renders_in_chinese(client, team, settings):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    publish(client, cycle)
    score = score_of(client, cycle, w.rep)
    client.login("rep_a1")
    pdf = client.get(f"/evaluation/scores/{score['id']}/report.pdf", headers={"accept-language": "zh-CN"})
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "趋势" in text and team["period"] in text
