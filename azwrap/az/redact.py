"""The one redaction step between the secret and every line azwrap prints or raises."""

from __future__ import annotations

MASK = "***"


class Redactor:
    """Knows the secrets of this run and masks them in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        # Very short values would mask ordinary words; a generated client secret is ~40 chars.
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text
