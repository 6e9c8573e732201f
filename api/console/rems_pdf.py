"""The REMS Patient Monitoring Form as a PDF (fpdf2): the same fields as the printable page, on A4/Letter-safe margins.

The PDF uses fpdf2's built-in Helvetica, so no font file ships with carepath; that font covers Latin-1 only, so other
characters are written as their closest Latin-1 letters (accents kept where Latin-1 has them).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fpdf import FPDF

from workflows.rems import NOT_RECORDED, PHASE_WORDS, RemsForm

LABEL_WIDTH = 70  # mm
# Characters the page uses that Latin-1 lacks, and letters with no decomposition, and what the PDF writes instead.
PLAIN = str.maketrans({"—": "-", "–": "-", "₂": "2", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "·": "-",
                       "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "Œ": "OE", "œ": "oe"})


def latin1(text: str) -> str:
    """Text Helvetica can draw: Latin-1 characters as they are, others as their base letter ("ễ" → "e"), or "?"."""
    return "".join(_latin1_char(char) for char in str(text).translate(PLAIN))


def _latin1_char(char: str) -> str:
    if ord(char) < 256:
        return char
    base = "".join(part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part))
    return base if base and all(ord(part) < 256 for part in base) else "?"


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else NOT_RECORDED


def render_pdf(form: RemsForm, patient_name: str, clinic_name: str, zone: ZoneInfo) -> bytes:
    pdf = FPDF(format="letter")
    pdf.set_title("SPRAVATO REMS Patient Monitoring Form")
    pdf.set_creator("carepath")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "SPRAVATO REMS Patient Monitoring Form", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, latin1(f"Filled by carepath from the session's record. Times are clinic time ({zone.key}). "
                                f"Fields with nothing recorded say \"{NOT_RECORDED}\"."), new_x="LMARGIN", new_y="NEXT")
    _section(pdf, "Patient")
    _field(pdf, "Patient name", patient_name)
    _field(pdf, "Date of birth", form.date_of_birth.isoformat() if form.date_of_birth else NOT_RECORDED)
    _field(pdf, "REMS patient enrollment id", form.enrollment_id)
    _section(pdf, "Treatment session")
    _field(pdf, "Healthcare setting", clinic_name)
    _field(pdf, "Session", form.session_id)
    _field(pdf, "Session date", form.session_day.astimezone(zone).date().isoformat())
    _field(pdf, "Dose", form.dose)
    _field(pdf, "Dose given at", when(form.dosed_at, zone))
    _section(pdf, "Blood pressure")
    for phase, words in PHASE_WORDS.items():
        reading = form.bp[phase]
        _field(pdf, words, f"{reading.blood_pressure} at {when(reading.at, zone)}" if reading else NOT_RECORDED)
    _section(pdf, "Monitoring (every reading)")
    _readings(pdf, form, zone)
    _section(pdf, "Observed during monitoring")
    _field(pdf, "Lowest SpO2 (pulse oximetry)", form.lowest_spo2)
    _field(pdf, "Sedation", form.sedation)
    _field(pdf, "Dissociation", form.dissociation)
    _field(pdf, "Respiratory depression", form.respiratory_depression)
    _field(pdf, "Adverse events", form.adverse_events)
    _section(pdf, "Discharge")
    _field(pdf, "Time ready for discharge", when(form.ready_for_discharge, zone))
    _field(pdf, "Minutes monitored after the dose",
           str(form.monitored_minutes) if form.monitored_minutes is not None else NOT_RECORDED)
    _field(pdf, "Monitored by (clinician)", form.clinician)
    _section(pdf, "Submission")
    _field(pdf, "Due by", _due(form, zone))
    _field(pdf, "Submitted to the REMS", "yes" if form.submitted else "not yet")
    return bytes(pdf.output())


def _due(form: RemsForm, zone: ZoneInfo) -> str:
    if form.deadline is None:
        return "counted from the discharge (not discharged yet)"
    last_day = (form.deadline.astimezone(zone) - timedelta(minutes=1)).date()
    return f"the end of {last_day.isoformat()} (overdue from {when(form.deadline, zone)})"


def _section(pdf: FPDF, title: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, title, border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _field(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(LABEL_WIDTH, 6, latin1(label))
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, latin1(value), new_x="LMARGIN", new_y="NEXT")


def _readings(pdf: FPDF, form: RemsForm, zone: ZoneInfo) -> None:
    if not form.readings:
        pdf.cell(0, 6, "No readings recorded.", new_x="LMARGIN", new_y="NEXT")
        return
    pdf.set_font("Helvetica", "", 8)
    with pdf.table(col_widths=(24, 30, 22, 15, 15, 30, 20, 20), text_align="LEFT") as table:
        table.row(["Taken", "Phase", "BP", "Pulse", "SpO2", "Breathing", "Sedation", "Dissociation"])
        for r in form.readings:
            table.row([latin1(cell) for cell in (when(r.at, zone), PHASE_WORDS[r.phase], r.blood_pressure,
                                                 r.heart_rate, r.spo2, r.breathing, r.sedation, r.dissociation)])
    pdf.set_font("Helvetica", "", 10)
