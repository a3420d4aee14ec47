"""Finding and redacting secrets in text that is about to leave the machine (hand-off).

Pure. Four kinds of finding: private-key blocks, tokens of the common providers (by their
documented prefixes and shapes), values in ``.env`` files, and high-entropy values
assigned to names that say key/secret/token/password. A file that is wholly a secret
(a key file, a ``.env``, a credentials file) is reported as such so the caller can refuse.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

REDACTED = "[REDACTED:{kind}]"

# (kind, pattern) — the prefixes are the providers' documented token formats.
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    (
        "github-token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+")),
    ("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}\b")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("devin-key", re.compile(r"\bcog_[A-Za-z0-9_-]{16,}\b")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi-token", re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b")),
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE "
    r"KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:key|secret|token|passw(?:or)?d|pwd|credential|auth)[A-Za-z0-9_.-]*"
)
_ASSIGNED = re.compile(
    r"(?P<name>"
    + _SECRET_NAME
    + r")[\"']?\s*(?::=|=|:)\s*(?P<q>[\"']?)(?P<value>[^\s\"',;]{8,})(?P=q)",
    re.IGNORECASE,
)
_ENV_LINE = re.compile(
    r"^(?P<lead>[+ -]?\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*)(?P<value>.+?)\s*$"
)
_SECRET_FILES = re.compile(
    r"(?:^|/)(?:id_(?:rsa|dsa|ecdsa|ed25519)|[^/]*\.(?:pem|key|p12|pfx|jks|keystore)|"
    r"\.netrc|\.pgpass|credentials(?:\.json)?|[^/]*service[-_]account[^/]*\.json|\.npmrc|\.pypirc)$",
    re.IGNORECASE,
)
_ENV_FILE = re.compile(r"(?:^|/)\.env(?:\.[A-Za-z0-9_-]+)?$")
_ENV_TEMPLATE = re.compile(r"(?:^|/)\.env\.(?:example|sample|template|dist)$")


@dataclass(frozen=True)
class Finding:
    """One secret found: where and what kind, never the value."""

    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}" if self.line else f"{self.path}: {self.kind}"


@dataclass(frozen=True)
class Scanned:
    text: str
    findings: tuple[Finding, ...]


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def looks_random(value: str) -> bool:
    """Long enough and varied enough to be a credential rather than a word or a path."""
    if len(value) < 16 or value.startswith(("$", "{", "<", "%", "/", "./", "~")) or "://" in value:
        return False  # a reference to a variable, a template, a path or a URL
    classes = sum(any(test(c) for c in value) for test in (str.islower, str.isupper, str.isdigit))
    return classes >= 2 and entropy(value) >= 3.5


def is_env_file(path: str) -> bool:
    return bool(_ENV_FILE.search(path)) and not _ENV_TEMPLATE.search(path)


def is_secret_file(path: str, text: str | None = None) -> str | None:
    """Why the file as a whole is a secret (a key or credentials file), or None.

    A ``.env`` is not: its values are redacted and its names kept, which is what Devin
    needs to know about the configuration."""
    if _SECRET_FILES.search(path):
        return "a key or credentials file"
    if text is not None:
        stripped = text.strip()
        if stripped and _PRIVATE_KEY.fullmatch(stripped):
            return "a private key"
    return None


def scan(text: str, path: str) -> Scanned:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``, and the findings."""
    findings: list[Finding] = []

    def line_of(index: int) -> int:
        return text.count("\n", 0, index) + 1

    spans: list[tuple[int, int, str]] = []
    for match in _PRIVATE_KEY.finditer(text):
        spans.append((match.start(), match.end(), "private-key"))
    for kind, pattern in _TOKENS:
        spans.extend((m.start(), m.end(), kind) for m in pattern.finditer(text))
    for m in _ASSIGNED.finditer(text):
        value = m.group("value")
        if looks_random(value):
            spans.append((m.start("value"), m.end("value"), f"value of {m.group('name')}"))
    if is_env_file(path):
        offset = 0
        for raw in text.splitlines(keepends=True):
            line = raw.rstrip("\r\n")
            env = _ENV_LINE.match(line)
            if env and not line.lstrip().startswith("#") and env.group("value").strip("'\" "):
                spans.append((offset + env.start("value"), offset + env.end("value"), ".env value"))
            offset += len(raw)
    # The earliest and longest span wins where two overlap.
    kept: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end, kind))
    out: list[str] = []
    last = 0
    for start, end, kind in kept:
        out.append(text[last:start])
        out.append(REDACTED.format(kind=kind))
        findings.append(Finding(path, line_of(start), kind))
        last = end
    out.append(text[last:])
    return Scanned("".join(out), tuple(findings))
