"""Who may do what, declared once. The API (bearer tokens) and the pages (the session cookie) both ask here.

Where the pathway already says who may post an event (`workflows.stages.EVENT_RULES`), the roles come from there, plus
admin, who may do anything: a page or route never keeps its own copy of a rule.
"""

from __future__ import annotations

from models.tables import User
from models.users import UserRole, role_at
from workflows.stages import EVENT_RULES

Roles = frozenset[str]
USER_ROLES: Roles = frozenset(role.value for role in UserRole)


def posting(event_type: str) -> Roles:
    """The users' roles the pathway lets post this event, and admin (patients and the system are not users)."""
    declared = {UserRole(role.value) for role in EVENT_RULES[event_type].roles if role.value in USER_ROLES}
    return frozenset(declared | {UserRole.ADMIN})


# Every user role may sign in to the pages; what each sees there is narrowed below.
SIGNS_IN: Roles = frozenset(UserRole)
# Who may see who a patient is (name, phone, texts), and so open the console's patient pages. Ops work by ids.
SEES_PATIENTS: Roles = frozenset({UserRole.COORDINATOR, UserRole.CLINICIAN, UserRole.ADMIN})
# Who may acknowledge and resolve escalations, on the worklist, the dashboard and the API.
ACTS_ON_ESCALATIONS: Roles = posting("escalation.acknowledged")
STARTS_REFERRALS: Roles = posting("referral.received")
READS_METRICS: Roles = frozenset({UserRole.OPS, UserRole.ADMIN})
# Who sees patients signs in with a second factor (TOTP) as well as a password or the clinic's identity provider.
SIGNS_IN_WITH_A_SECOND_FACTOR: Roles = SEES_PATIENTS
# Who manages accounts and tokens, and reads the audit trail.
ADMINISTERS: Roles = frozenset({UserRole.ADMIN})


def clinic_scope(user: User) -> frozenset[str] | None:
    """The clinics whose records this user sees and acts on; None: every clinic (a network role)."""
    return None if user.clinics is None else frozenset(user.clinics)


def sees_clinic(user: User, clinic: str | None) -> bool:
    """Whether a record of this clinic is this user's to see (a record with no clinic is the network's: network
    roles only)."""
    scope = clinic_scope(user)
    return scope is None or (clinic is not None and clinic in scope)


def one_role(user: User) -> bool:
    """Whether the user holds the same role at every clinic they work at (so they may look at all of them at once)."""
    return not user.clinic_roles


def at_clinic(user: User, clinic: str) -> User:
    """The user as they are at one clinic: that clinic only, and their role there (a detached copy, never saved)."""
    copy = User(**user.model_dump())
    copy.clinics, copy.role, copy.clinic_roles = [clinic], role_at(user, clinic), None
    return copy


def held_roles(user: User) -> frozenset[str]:
    """Every role the user holds at one clinic or another."""
    return frozenset({user.role, *(user.clinic_roles or {}).values()})


def allows(roles: Roles, user: User) -> bool:
    """Whether this user's role is one of `roles` (for a user of several roles, ask `at_clinic` first)."""
    return user.role in roles


def needs_second_factor(user: User) -> bool:
    """Whether signing in takes a second factor: when the user sees patients at any of their clinics."""
    return bool(held_roles(user) & SIGNS_IN_WITH_A_SECOND_FACTOR)


def sees_patients(user: User) -> bool:
    return allows(SEES_PATIENTS, user)


def administers(user: User) -> bool:
    return allows(ADMINISTERS, user)


def manages_network(user: User) -> bool:
    """An administrator of every clinic: adds and changes the network's clinics (one clinic's admin does not)."""
    return administers(user) and clinic_scope(user) is None
