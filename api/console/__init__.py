"""The coordinators' and clinicians' console: server-rendered pages on the dashboard's login and stack.

One module per room: `intake` (referral form), `patients` (list and patient page), `actions` (event forms generated
from the pathway's own rules), `worklist` (escalations), `calendar` (day and week), `chair` (the session at the chair).
`router` gathers them; `web` holds what they share (templates, the signed-in user, rendering).
"""
