"""The coordinators' and clinicians' console: server-rendered pages on the dashboard's sign-in and templates.

One module per room: `intake` (referral form), `patients` (list and patient page), `actions` (event forms generated
from the pathway's own rules), `worklist` (escalations), `calendar` (day and week, over `agenda` and `booking`),
`chair` (the session at the chair). `router` gathers them; `web` holds what they share (templates, the staff user,
rendering, the stylesheet).
"""
