"""Who may approve: the approver chain (roles, each with the users and groups who may sign it off)
and how the names in it must be written.

The chain appears in three kinds (ApproverPolicy, ModelIntake and the PromotionGate it is copied
into), so its model, its field and the rules on the names live together here rather than with
any one kind.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import DNS_LABEL, cel, list_map, validations

UNIQUE_ROLES_RULE = "self.all(a, self.exists_one(b, b.role == a.role))"
UNIQUE_ROLES_MESSAGE = "approver roles must be unique"
APPROVER_NEEDS_PRINCIPAL = "an approver needs at least one user or group"
SYSTEM_PREFIX = "system:"
SYSTEM_APPROVER_MESSAGE = (
    "approvers must be people: users and groups starting with system: (ServiceAccounts, "
    "system:authenticated and other system groups) can never approve"
)


# Principals are compared as `normal_name` spells them; one written so that it compares as
# something else (surrounding whitespace, invisible characters) is refused at apply, with the
# invisible characters shown. Case is not refused (identity providers spell names as they
# like) but never separates two people.
_INVISIBLE_CLASS = r"[\\p{Cc}\\p{Cf}]"
"""Control and format characters (tabs, newlines, zero-width spaces, BOMs) as a CEL regex."""
_SHOWN_INVISIBLE = (
    ("\t", "\\t"),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\u200b", "<U+200B>"),
    ("\ufeff", "<U+FEFF>"),
    ("\u00a0", "<U+00A0>"),
    (" ", "\u2420"),
)
"""How a message spells the invisible characters it can name (a space as the symbol for one)."""


def normal_name(name: str) -> str:
    """A user or group name as identity comparisons see it: Unicode compatibility form, without
    surrounding whitespace, case folded. `Alice` and `alice ` are one person to separation of
    duties, the requester rule and chain narrowing."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def miswritten(name: str) -> bool:
    """Whether `name` hides something a reader cannot see: surrounding whitespace, or a control
    or format character anywhere (the CEL rule `names_as_written` refuses the same)."""
    return name != name.strip() or any(unicodedata.category(c) in ("Cc", "Cf") for c in name)


MAX_SHOWN = 40


def clipped(text: str) -> str:
    """`text` someone wrote (a name, a role) as a message quotes it: cut to MAX_SHOWN characters,
    so a message stays readable whatever was written."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def shown_name(name: str) -> str:
    """`name` as a message shows it: as written when every character is visible, else quoted
    with its whitespace and invisible characters spelled out."""
    if not any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return name
    for char, shown in _SHOWN_INVISIBLE:
        name = name.replace(char, shown)
    out = "".join(
        c if unicodedata.category(c) not in ("Cc", "Cf") else f"<U+{ord(c):04X}>" for c in name
    )
    return f'"{out}"'


def _cel_escape(text: str) -> str:
    return text.encode("unicode_escape").decode().replace("'", "\\'")


def names_as_written(noun: str) -> dict[str, Any]:
    """The CEL rule on one user or group name refusing what `miswritten` refuses; the message
    quotes the name with its invisible characters shown. On each name rather than on the list:
    a rule over every name of every role costs the API server more than a CRD may."""
    shown = "'\"' + self"
    for char, visible in _SHOWN_INVISIBLE:
        shown += f".replace('{_cel_escape(char)}', '{_cel_escape(visible)}')"
    return {
        "rule": f"self == self.trim() && !self.matches('{_INVISIBLE_CLASS}')",
        # The fallback should the expression fail: the rule without the name.
        "message": _as_written_message(noun).removesuffix("; refused: "),
        "messageExpression": f"'{_as_written_message(noun)}' + {shown} + '\"'",
    }


def _as_written_message(noun: str) -> str:
    return (
        f"{noun} names must be written as they compare: no leading or trailing whitespace and "
        "no invisible characters; refused: "
    )


def _as_written(noun: str) -> Any:
    def check(name: str) -> str:
        if miswritten(name):
            raise ValueError(_as_written_message(noun) + shown_name(name))
        return name

    return check


Username = Annotated[str, Field(min_length=1, max_length=253)]
"""A user name as recorded (who signed, who asked): kept as the API server or annotation gave it."""
ApproverUser = Annotated[
    str,
    Field(min_length=1, max_length=253, json_schema_extra=validations(names_as_written("user"))),
    AfterValidator(_as_written("user")),
]
"""A user name in an approver chain: written as it compares (`names_as_written`)."""
ApproverGroup = Annotated[
    str,
    Field(min_length=1, max_length=253, json_schema_extra=validations(names_as_written("group"))),
    AfterValidator(_as_written("group")),
]


def require_unique_roles(approvers: list[Approver]) -> None:
    """UNIQUE_ROLES_RULE checked in Python, so the operator refuses what the API server refuses."""
    roles = [a.role for a in approvers]
    if len(set(roles)) != len(roles):
        raise ValueError(UNIQUE_ROLES_MESSAGE)


class Approver(ApiModel):
    """One role in the approver chain. Anyone listed (by user name or group) may sign off the
    role by annotating the PromotionGate; the admission policy shipped in the chart enforces it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.users) && size(self.users) > 0) || "
                "(has(self.groups) && size(self.groups) > 0)",
                APPROVER_NEEDS_PRINCIPAL,
            ),
            cel(
                "!has(self.users) || self.users.all(u, !u.startsWith('system:'))",
                SYSTEM_APPROVER_MESSAGE,
                field_path=".users",
            ),
            cel(
                "!has(self.groups) || self.groups.all(g, !g.startsWith('system:'))",
                SYSTEM_APPROVER_MESSAGE,
                field_path=".groups",
            ),
        )
    )

    role: str = Field(
        min_length=1,
        max_length=40,
        pattern=DNS_LABEL,
        description="The role's name (lowercase, digits, dashes; at most 40 characters), e.g. "
        "domain-owner. It names the approval annotation: approval.modelsmith.io/<role>.",
    )
    users: list[ApproverUser] = Field(
        default_factory=list,
        max_length=32,
        description="User names (as the API server authenticates them) allowed to sign off.",
    )
    groups: list[ApproverGroup] = Field(
        default_factory=list,
        max_length=32,
        description="Groups whose members are allowed to sign off.",
    )

    @model_validator(mode="after")
    def _has_principal(self) -> Approver:
        if not self.users and not self.groups:
            raise ValueError(APPROVER_NEEDS_PRINCIPAL)
        if any(p.startswith(SYSTEM_PREFIX) for p in [*self.users, *self.groups]):
            raise ValueError(SYSTEM_APPROVER_MESSAGE)
        return self


def approvers_field(description: str, *extra_rules: dict[str, Any]) -> Any:
    """The approver chain: 1..8 roles, unique, in sign-off order."""
    return Field(
        min_length=1,
        max_length=8,
        description=description,
        json_schema_extra=validations(
            cel(UNIQUE_ROLES_RULE, UNIQUE_ROLES_MESSAGE),
            *extra_rules,
            **list_map("role"),
        ),
    )
