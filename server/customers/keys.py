"""Match keys for customers: the same company or phone typed two ways gives the same key.

Pure functions, no I/O. A name key is the NFKC form (full-width letters, digits and brackets become
half-width), case-folded, without spaces, punctuation or a trailing legal-form suffix (有限公司, Co., Ltd.,
Inc. ...). A city prefix (上海, 北京 ...) is left alone: 上海华联 and 北京华联 are different customers.
A phone key is the digits only, without a +86 / 0086 country prefix.
"""

from __future__ import annotations

import re
import unicodedata

# Longest first, so 股份有限公司 goes before 有限公司 before 公司. Compared on the squeezed, case-folded form.
_SUFFIXES = tuple(sorted((
    "股份有限公司", "有限责任公司", "有限公司", "集团有限公司", "集团股份有限公司", "集团", "公司", "分公司",
    "coltd", "corpltd", "companylimited", "colimited", "limited", "ltd", "inc", "incorporated",
    "llc", "corporation", "corp", "co", "gmbh", "plc", "group",
), key=len, reverse=True))


def _squeeze(text: str) -> str:
    """NFKC, case-folded, letters and digits only (any script)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def name_key(name: str) -> str:
    """The customer-name match key; empty when nothing is left to compare."""
    key = _squeeze(name or "")
    # Strip stacked suffixes ("XX集团有限公司", "Acme Group Co., Ltd."), but never the whole name.
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                key = key[: -len(suffix)]
                changed = True
                break
    return key


_NON_DIGITS = re.compile(r"\D+")


def phone_key(phone: str) -> str:
    """Digits only, without the +86 / 0086 prefix; empty for fewer than 5 digits (not worth matching)."""
    digits = _NON_DIGITS.sub("", unicodedata.normalize("NFKC", phone or ""))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:  # +86 and an 11-digit mobile number
        digits = digits[2:]
    return digits if len(digits) >= 5 else ""
