"""Outcomes: a cohort report per clinic and route (PCL-5 and PHQ-9 at baseline and latest, response and remission
rates, patients by stage, sessions per patient, the no-show rate), as a page with charts and as a CSV file.

For the roles that see patients only (the console's `Staff`): the figures are aggregates, but a small clinic's cohort
of one is one person's scores. Ops are refused, as on every console page about patients.

The clinics are those the page's user is looking at (the clinic switcher narrows `policy.clinic_scope`); `?clinic=`
narrows further to one of them, `?route=` to one route. Neither can widen what the user sees.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from api import policy
from api.console.bars import Bar, bar_chart
from api.console.cohort import INSTRUMENTS, ROUTE_CHOICES, ROUTE_WORDS, Report, Row, report
from api.console.web import Staff, now_of, render
from api.dashboard.access import page_router
from api.dashboard.chart import MAXIMUM
from api.deps import ServicesDep
from models.tables import User
from workers.runtime import Services
from workflows.stages import Stage

router = page_router()


class BadChoice(Exception):
    """A route or clinic the address asked for that is not one to show: the page says which, with its status."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@router.get("/console/outcomes")
def outcomes_page(user: Staff, request: Request, svc: ServicesDep, route: str = "", clinic: str = "") -> Response:
    """The report, its charts, and a link to the same figures as CSV."""
    try:
        clinics, route_code = choices(svc, user, clinic, route)
    except BadChoice as bad:
        return render(request, svc, "outcomes.html", {**form_context(svc, user, clinic, route), "user": user,
                                                       "problem": str(bad), "report": None}, bad.status_code)
    found = report(svc, clinics, route_code)
    context = {**form_context(svc, user, clinic, route), "user": user, "problem": None, "report": found,
               "charts": charts(found),
               "csv_link": csv_link(clinic, route),
               "many_clinics": len(clinics) > 1, "clinic_name": clinic_names(svc),
               "route_words": ROUTE_WORDS, "instruments": INSTRUMENTS, "percent": percent, "mean": mean,
               "rules_words": rules_words(found)}
    return render(request, svc, "outcomes.html", context)


@router.get("/console/outcomes/csv")
def outcomes_csv(user: Staff, request: Request, svc: ServicesDep, route: str = "", clinic: str = "") -> Response:
    """The report's rows as CSV: one line per clinic and route, and one for them all."""
    try:
        clinics, route_code = choices(svc, user, clinic, route)
    except BadChoice as bad:
        return Response(str(bad) + "\n", status_code=bad.status_code, media_type="text/plain; charset=utf-8")
    body = csv_text(report(svc, clinics, route_code), clinic_names(svc))
    filename = f"outcomes-{now_of(request):%Y-%m-%d}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def csv_link(clinic: str, route: str) -> str:
    """The CSV of the figures on the page: the same choices (codes only), nothing else the address carried."""
    query = urlencode({name: value for name, value in (("clinic", clinic), ("route", route)) if value})
    return "/console/outcomes/csv" + (f"?{query}" if query else "")


def choices(svc: Services, user: User, clinic: str, route: str) -> tuple[list[str], str | None]:
    """The clinics (in the network's order) and the route (None: every route) the address asks for."""
    if route and route not in ROUTE_CHOICES:
        raise BadChoice(f"There is no route called {route[:40]!r}: choose one of "
                        f"{', '.join(ROUTE_WORDS[ROUTE_CHOICES[code]] for code in ROUTE_CHOICES)}.", 400)
    visible = [c.key for c in svc.store.network.clinics if policy.sees_clinic(user, c.key)]
    if clinic and clinic not in visible:
        # The same answer for a clinic that does not exist and one the user does not work at.
        raise BadChoice(f"No clinic called {clinic[:40]!r} among the clinics you are looking at.", 404)
    return ([clinic] if clinic else visible), (ROUTE_CHOICES[route] if route else None)


def clinic_names(svc: Services) -> dict[str, str]:
    return {c.key: c.name for c in svc.store.network.clinics}


def form_context(svc: Services, user: User, clinic: str, route: str) -> dict:
    """What the filter form offers: the user's clinics being looked at, and every route."""
    names = clinic_names(svc)
    visible = [(key, name) for key, name in names.items() if policy.sees_clinic(user, key)]
    routes = [(code, ROUTE_WORDS[value]) for code, value in ROUTE_CHOICES.items()]
    return {"clinic_options": visible if len(visible) > 1 else [], "route_options": routes,
            "chosen": {"clinic": clinic, "route": route}}


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f} %"


def mean(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def rules_words(found: Report) -> list[str]:
    """The definitions used, in words, once per distinct set of protocol numbers."""
    seen = []
    for limits in found.rules.values():
        pcl, phq = limits["pcl5"], limits["phq9"]
        words = (f"PCL-5: response is a fall of at least {pcl.response_reduction * 100:.0f} % from baseline; remission "
                 f"is a score below {pcl.remission_below}. PHQ-9: response is a fall of at least "
                 f"{phq.response_reduction * 100:.0f} %; remission is a score below {phq.remission_below}.")
        if words not in seen:
            seen.append(words)
    return seen


def charts(found: Report) -> list[str]:
    """The cohort's charts: scores at baseline and now, response and remission rates, patients by stage."""
    total = found.total
    scores, rates = [], []
    for code, name in INSTRUMENTS.items():
        figures = total.figures(code)
        top = MAXIMUM[code]
        scores += [Bar(f"{name} at baseline (mean)", figures.baseline_mean, top, f"{mean(figures.baseline_mean)} of {top}"),
                   Bar(f"{name} latest (mean)", figures.latest_mean, top, f"{mean(figures.latest_mean)} of {top}")]
        rates += [Bar(f"{name} response", figures.response_rate, 1, percent(figures.response_rate)),
                  Bar(f"{name} remission", figures.remission_rate, 1, percent(figures.remission_rate))]
    rates.append(Bar("Missed sessions (no-show)", total.no_show_rate, 1, percent(total.no_show_rate)))
    most = max((n for _, n in found.stage_counts), default=0)
    stages = [Bar(stage.replace("_", " ").capitalize(), n, most, str(n)) for stage, n in found.stage_counts]
    return [chart for chart in (bar_chart("chart-scores", "Mean scores at baseline and latest", scores),
                                bar_chart("chart-rates", "Response, remission and missed sessions", rates),
                                bar_chart("chart-stages", "Patients by stage", stages)) if chart]


CSV_STAGES = [stage.value for stage in Stage]


def csv_text(found: Report, names: dict[str, str]) -> str:
    """One line per clinic and route, then one for all of them; rates as fractions 0–1, blank when undefined."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["clinic", "route", "patients"]
    for code in INSTRUMENTS:
        header += [f"{code}_with_baseline", f"{code}_followed_up", f"{code}_baseline_mean", f"{code}_latest_mean",
                   f"{code}_response_rate", f"{code}_remission_rate"]
    header += ["sessions_attended", "sessions_per_patient", "no_shows", "no_show_rate"]
    header += [f"stage_{stage}" for stage in CSV_STAGES]
    writer.writerow(header)
    for row in [*found.rows, found.total]:
        writer.writerow([safe_cell(cell) for cell in csv_row(row, names)])
    return out.getvalue()


def csv_row(row: Row, names: dict[str, str]) -> list:
    clinic = "all" if row.clinic is None else names.get(row.clinic, row.clinic)
    route = "all" if row.route is None else ROUTE_WORDS.get(row.route, row.route)
    cells: list = [clinic, route, row.patients]
    for code in INSTRUMENTS:
        f = row.figures(code)
        cells += [f.counts.with_baseline, f.counts.followed, number(f.baseline_mean), number(f.latest_mean),
                  number(f.response_rate), number(f.remission_rate)]
    cells += [row.sessions.attended, number(row.sessions_per_patient), row.sessions.no_shows, number(row.no_show_rate)]
    return cells + [row.stages.get(stage, 0) for stage in CSV_STAGES]


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def safe_cell(cell: object) -> object:
    """A clinic's name is typed by an admin: one starting like a formula is kept as text by a spreadsheet."""
    return "'" + cell if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@") else cell

