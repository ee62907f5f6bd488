"""What every generated ValidatingAdmissionPolicy is checked for, whichever module writes it."""

from __future__ import annotations

import re
from typing import Any

_USED = re.compile(r"variables\.(\w+)")


def assert_variables_defined_before_use(policy: dict[str, Any]) -> None:
    """Each variable, and each validation's expression and message, uses only the variables
    defined before it."""
    defined: set[str] = set()
    for variable in policy["spec"]["variables"]:
        used = set(_USED.findall(variable["expression"]))
        assert used <= defined, (variable["name"], used - defined)
        defined.add(variable["name"])
    for validation in policy["spec"]["validations"]:
        for key in ("expression", "messageExpression"):
            used = set(_USED.findall(validation[key]))
            assert used <= defined, (key, used - defined)
