"""A Job's own store credential as its container checks it. Where the target names a role for
its Jobs, the operator mints each Job's keys, puts them in a Secret, and names their digest in
the Job's environment (`ENV`). Anyone who may write Secrets in the Job's namespace can replace
that Secret; a container whose keys do not match the digest refuses to run
(`ExitCode.FOREIGN_CREDENTIAL`), so a Job never works with keys the operator did not mint.

The digest names no key: a SHA-256 of random keys tells nothing about them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

ENV: Final = "MODELSMITH_STORE_CREDENTIAL_SHA256"
KEYS: Final = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""The Secret's keys, each read into the variable of the same name."""


def digest(values: Mapping[str, str]) -> str:
    """The SHA-256 of the credential's three values, in `KEYS` order (absent ones empty)."""
    joined = "\n".join(values.get(key, "") for key in KEYS)
    return hashlib.sha256(joined.encode()).hexdigest()


def refusal(env: Mapping[str, str]) -> str | None:
    """Why the container must not run with the credential in `env`, or None. A Job without
    `ENV` reads its target's shared credential, which the admin put there: nothing to check."""
    wanted = env.get(ENV)
    if wanted is None:
        return None
    if hmac.compare_digest(digest(env), wanted):
        return None
    return "the store credential is not the one the operator minted for this Job"
