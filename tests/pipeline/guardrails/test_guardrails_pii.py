"""The PII detectors on valid and near-miss inputs, redaction, and what findings hold."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.errors import InvalidInput
from tether.pipeline.guardrails import (
    DETECTORS,
    IBAN_LENGTHS,
    Email,
    Finding,
    GuardResult,
    Iban,
    PaymentCard,
    Phone,
    Pii,
    PiiDetector,
    UsSsn,
    luhn_valid,
)


def _hits(detector: PiiDetector, text: str) -> list[str]:
    return [text[s:e] for s, e, _ in detector.find(text)]


# --- payment cards -------------------------------------------------------------------


def _luhn_digit(body: str) -> str:
    """The check digit that makes ``body + digit`` pass Luhn."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return d
    raise AssertionError("unreachable")


CARDS = [
    "4111 1111 1111 1111",  # Visa
    "4111-1111-1111-1111",
    "4111111111111111",
    "5555 5555 5555 4444",  # Mastercard
    "2223 0031 2200 3222",  # Mastercard 2-series
    "3782 822463 10005",  # Amex
    "378282246310005",
    "6011 1111 1111 1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "30569309025904",  # Diners (14 digits)
    "4222222222222",  # Visa, 13 digits
    "6200 0000 0000 0005",  # UnionPay
]


@pytest.mark.parametrize("card", CARDS)
def test_known_test_cards_are_found_and_redacted_in_place(card: str) -> None:
    text = f"pay with {card} today"
    assert _hits(PaymentCard(), text) == [card]
    value, result = PaymentCard().check({"note": text})
    assert value == {"note": "pay with [REDACTED:payment_card] today"}
    last4 = re.sub(r"\D", "", card)[-4:]
    assert result.findings == (Finding("note", "payment_card", f"payment card ending {last4}"),)


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # fails Luhn: not a card
        "4111111111111112",
        "5555 5555 5555 4445",
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits, plain long number
        "1111 1111 1111 1117",  # passes Luhn, but no card network starts with 1
        "9111111111111111",
        "4111 1111-1111 1111",  # mixed separators
        "41 11 11 11 11 11 11 11",  # groups too small
        "order 4111111111111111000",  # part of a longer number
        "x411111111111111",  # 15 digits, fails Luhn
    ],
)
def test_near_miss_cards_are_not_cards(text: str) -> None:
    assert _hits(PaymentCard(), text) == []
    assert PaymentCard().check({"t": text})[1].outcome == "pass"


def test_a_cvv_after_the_number_is_left_out() -> None:
    text = "4111 1111 1111 1111 123"
    assert PaymentCard().check(text)[0] == "[REDACTED:payment_card] 123"


def test_a_card_sent_as_an_integer_is_found() -> None:
    value, result = PaymentCard().check({"n": 4111111111111111, "qty": 4111})
    assert value == {"n": "[REDACTED:payment_card]", "qty": 4111}
    assert result.findings[0].path == "n"
    assert PaymentCard().check({"n": 4111111111111112})[1].outcome == "pass"


_IIN = st.sampled_from(["4", "51", "52", "55", "2221", "2720", "34", "37", "6011", "65", "3528"])


@st.composite
def cards(draw: st.DrawFn) -> str:
    """A valid 16-digit card number (Amex-like prefixes get 16 digits too: still Luhn)."""
    prefix = draw(_IIN)
    body = prefix + draw(
        st.text("0123456789", min_size=15 - len(prefix), max_size=15 - len(prefix))
    )
    return body + _luhn_digit(body)


def _group(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)) if sep else digits


@given(cards(), st.sampled_from(["", " ", "-"]), st.integers(0, 15), st.integers(1, 9))
def test_generated_cards_are_found_and_one_wrong_digit_is_not(
    digits: str, sep: str, position: int, delta: int
) -> None:
    text = f"card: {_group(digits, sep)}, thanks"
    assert PaymentCard().check(text)[0] == "card: [REDACTED:payment_card], thanks"
    wrong = digits[:position] + str((int(digits[position]) + delta) % 10) + digits[position + 1 :]
    assert not luhn_valid(wrong)  # Luhn catches every single-digit error
    assert PaymentCard().check(f"card: {_group(wrong, sep)}, thanks")[1].outcome == "pass"


# --- IBANs ---------------------------------------------------------------------------


IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
    "DE89 3704 0044 0532 0130 00",
    "DE89370400440532013000",
    "de89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "BE68 5390 0754 7034",
    "IT60 X054 2811 1010 0000 0123 456",
    "ES91 2100 0418 4502 0005 1332",
    "CH93 0076 2011 6238 5295 7",
    "AT61 1904 3002 3457 3201",
    "NO93 8601 1117 947",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
]


@pytest.mark.parametrize("iban", IBANS)
def test_known_ibans_are_found_and_redacted_in_place(iban: str) -> None:
    value, result = Iban().check([f"to {iban}."])
    assert value == ["to [REDACTED:iban]."]
    compact = iban.replace(" ", "").upper()
    assert result.findings == (
        Finding("[0]", "iban", f"IBAN ({compact[:2]}) ending {compact[-4:]}"),
    )


@pytest.mark.parametrize(
    "text",
    [
        "GB82 WEST 1234 5698 7654 33",  # check fails
        "GB28 WEST 1234 5698 7654 32",  # check digits swapped
        "DE89 3704 0044 0532 0130 0",  # one character short for DE
        "DE89 3704 0044 0532 0130 000",  # one too many
        "XX82 WEST 1234 5698 7654 32",  # no such country
        "GB82-WEST-1234-5698-7654-32",  # dashes are not IBAN separators
        "ZGB82WEST12345698765432",  # glued to a letter
    ],
)
def test_near_miss_ibans_are_not_ibans(text: str) -> None:
    assert _hits(Iban(), text) == []


def test_iban_check_digits_00_01_99_are_refused() -> None:
    # 99 is congruent to 02 mod 97, so GB99 passes the bare mod-97 check for a GB02 IBAN.
    bban = "WEST12345698765432"
    number = int("".join(str(int(c, 36)) for c in bban + "GB00"))
    check = 98 - number % 97
    assert _hits(Iban(), f"GB{check:02d}{bban}") == [f"GB{check:02d}{bban}"]
    for wrong in {check + 97, check - 97} & {0, 1, 99}:
        assert _hits(Iban(), f"GB{wrong:02d}{bban}") == []


def _iban(country: str, bban: str) -> str:
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


_BBAN_LETTERS = {"GB": 4, "NL": 4, "IE": 4, "MT": 4}  # leading bank code in letters


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(["DE", "GB", "FR", "NL", "ES", "IT", "BE", "AT", "CH", "NO",
                                    "PL", "IE", "PT", "FI", "MT", "SE", "LU"]))  # fmt: skip
    size = IBAN_LENGTHS[country] - 4
    letters = _BBAN_LETTERS.get(country, 0)
    bank = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=letters, max_size=letters))
    rest = draw(st.text("0123456789", min_size=size - letters, max_size=size - letters))
    return _iban(country, bank + rest)


def _spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


@given(ibans(), st.booleans(), st.data())
def test_generated_ibans_are_found_and_one_wrong_digit_is_not(
    iban: str, spaced: bool, data: st.DataObject
) -> None:
    show = _spaced if spaced else str
    assert Iban().check(f"IBAN {show(iban)} ok")[0] == "IBAN [REDACTED:iban] ok"
    positions = [i for i, c in enumerate(iban) if c.isdigit() and i >= 4]
    i = data.draw(st.sampled_from(positions))
    delta = data.draw(st.integers(1, 9))
    wrong = iban[:i] + str((int(iban[i]) + delta) % 10) + iban[i + 1 :]
    # mod 97 catches every single-digit error: 97 is prime and beyond 9 * 10**k's factors.
    assert Iban().check(f"IBAN {show(wrong)} ok")[1].outcome == "pass"


# --- US SSNs -------------------------------------------------------------------------


@pytest.mark.parametrize("ssn", ["123-45-6789", "123 45 6789", "001-01-0001", "899-99-9999"])
def test_ssns_are_found(ssn: str) -> None:
    assert UsSsn().check({"ssn": f"SSN: {ssn}."})[0] == {"ssn": "SSN: [REDACTED:us_ssn]."}


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",  # area 000
        "666-12-3456",  # area 666
        "900-12-3456",  # area 900-999
        "999-12-3456",
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
        "123456789",  # no separators
        "123-45 6789",  # mixed separators
        "1123-45-6789",  # longer
        "123-45-67890",
        "call 1-123-45-6789",
    ],
)
def test_near_miss_ssns_are_not_ssns(text: str) -> None:
    assert _hits(UsSsn(), text) == []


@given(
    st.integers(1, 899).filter(lambda a: a != 666),
    st.integers(1, 99),
    st.integers(1, 9999),
    st.sampled_from(["-", " "]),
)
def test_every_issuable_ssn_is_found(area: int, group: int, serial: int, sep: str) -> None:
    ssn = f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"
    assert _hits(UsSsn(), f"id {ssn} end") == [ssn]


# --- phones --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+1 (415) 555-2671",
        "+14155552671",
        "+33 6 12 34 56 78",
        "+49-30-901820",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "1-800-555-0199",
        "020 7946 0958",
        "06 12 34 56 78",
        "(030) 1234567",
    ],
)
def test_phones_are_found(phone: str) -> None:
    assert Phone().check({"body": f"call {phone} now"})[0] == {"body": "call [REDACTED:phone] now"}


@pytest.mark.parametrize(
    "text",
    [
        "order 4155552671",  # a plain run of digits is an id, not a phone
        "order #12345678901",
        "INV-2026-00042",
        "2026-01-15",  # dates
        "2026-01-15T10:32:07Z",
        "due 2026-01-15 10:32",
        "15.01.2026",
        "192.168.100.200",  # an IPv4 address
        "EUR 12.500.000",  # thousands
        "+1 555",  # too short
        "+12 3456 7890 1234 5678",  # 18 digits: too long
        "v1.2.3-4.5.6",
        "7f3c9a2e-4b1d-4e8a-9c6f-2d5b8e1a0f37",  # a UUID
        "ab020 7946 0958",  # glued to letters
        "1.2345678",
    ],
)
def test_near_miss_phones_are_not_phones(text: str) -> None:
    assert _hits(Phone(), text) == []


# --- e-mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["ann@example.com", "ann.lee+ops@mail.example.co.uk", "a_b-c%d@x-y.io", "josé@exämple.de"],
)
def test_emails_are_found(email: str) -> None:
    assert Email().check(f"<{email}>, thanks") == (
        "<[REDACTED:email]>, thanks",
        GuardResult("email", "redact", "redacted email", (Finding("", "email", "email address"),)),
    )


@pytest.mark.parametrize(
    "text",
    ["ann@", "@example.com", "ann@example", "ann at example dot com", "ann@.com", "a@b.c", "@@"],
)
def test_near_miss_emails_are_not_emails(text: str) -> None:
    assert _hits(Email(), text) == []


# --- redaction, findings, actions ------------------------------------------------------


def test_redaction_keeps_everything_around_every_hit() -> None:
    text = "A ann@example.com B 4111 1111 1111 1111 C +44 20 7946 0958 D 123-45-6789 E"
    pii = Pii([Email(), PaymentCard(), Phone(), UsSsn(), Iban()])
    assert pii.check(text)[0] == (
        "A [REDACTED:email] B [REDACTED:payment_card] C [REDACTED:phone] D [REDACTED:us_ssn] E"
    )


def test_the_more_specific_detector_wins_an_overlap() -> None:
    # An SSN is phone-shaped too, and an IBAN holds a phone-like digit run.
    pii = Pii([Phone(), UsSsn(), Iban()])
    value, result = pii.check({"a": "123-45-6789", "b": "NO93 8601 1117 947"})
    assert value == {"a": "[REDACTED:us_ssn]", "b": "[REDACTED:iban]"}
    assert [f.kind for f in result.findings] == ["us_ssn", "iban"]


def test_nested_values_are_scanned_and_paths_point_at_the_hit() -> None:
    value = {
        "args": {"to": "ann@example.com", "cc": ["x", "bob@example.org"]},
        "items": [{"sku": "A-1"}, {"sku": "B-2"}, {"note": "card 4111111111111111"}],
        "odd key": ("+44 20 7946 0958",),
    }
    redacted, result = Pii([Email(), PaymentCard(), Phone()]).check(value)
    assert [(f.path, f.kind) for f in result.findings] == [
        ("args.to", "email"),
        ("args.cc[1]", "email"),
        ("items[2].note", "payment_card"),
        ('["odd key"][0]', "phone"),
    ]
    assert redacted["odd key"] == ("[REDACTED:phone]",)
    assert result.reason == (
        "redacted email at args.to, email at args.cc[1], payment_card at items[2].note, "
        'phone at ["odd key"][0]'
    )


def test_keys_are_scanned_and_paths_never_quote_them() -> None:
    value, result = Email().check({"contacts": {"ann@example.com": {"since": 2020}}})
    assert value == {"contacts": {"[REDACTED:email]": {"since": 2020}}}
    assert result.findings == (Finding("contacts", "email", "email address in a key"),)


def test_keys_that_redact_to_the_same_key_block() -> None:
    _, result = Email().check({"a@example.com": 1, "b@example.com": 2})
    assert result.outcome == "block"
    assert result.reason == 'redacting keys would merge entries at ["[REDACTED:email]"]'


def test_block_action_blocks_and_still_redacts() -> None:
    value, result = PaymentCard(action="block").check({"t": "4111111111111111"})
    assert (result.outcome, result.reason) == ("block", "found payment_card at t")
    assert value == {"t": "[REDACTED:payment_card]"}


def test_a_mixed_set_blocks_only_for_the_blocking_kinds() -> None:
    pii = Pii([Email(), PaymentCard(action="block")])
    assert pii.check("ann@example.com")[1].outcome == "redact"
    _, result = pii.check(["ann@example.com", "4111111111111111"])
    assert (result.outcome, result.reason) == ("block", "found payment_card at [1]")
    assert len(result.findings) == 2


def test_a_long_listing_is_cut() -> None:
    _, result = Email().check([f"u{i}@example.com" for i in range(8)])
    assert result.reason.endswith("email at [4] and 3 more")


def test_nothing_found_returns_the_very_same_value() -> None:
    value = {"a": ["plain", 1, 2.5, None, True], "b": "2026-01-15"}
    out, result = Pii([d() for d in DETECTORS.values()]).check(value)
    assert out is value
    assert result == GuardResult("pii", "pass")


def test_non_json_values_are_walked_too() -> None:
    value = {1: "ann@example.com", "s": {"x"}, "t": ("bob@example.org",)}
    redacted, result = Email().check(value)
    assert redacted == {1: "[REDACTED:email]", "s": {"x"}, "t": ("[REDACTED:email]",)}
    assert [f.path for f in result.findings] == ['["1"]', "t[0]"]


def test_detector_arguments_are_checked() -> None:
    with pytest.raises(InvalidInput, match="action must be 'redact' or 'block'"):
        Email(action="drop")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="at least one detector"):
        Pii([])
    with pytest.raises(InvalidInput, match="is not a PII detector"):
        Pii([object()])  # type: ignore[list-item]


# --- findings never quote the secret ---------------------------------------------------

SECRETS = {
    "email": st.sampled_from(["ann.lee@example.com", "bob+x@corp.example.org"]),
    "payment_card": cards().map(lambda d: _group(d, " ")),
    "iban": ibans().map(_spaced),
    "us_ssn": st.sampled_from(["123-45-6789", "078 05 1120", "219-09-9999"]),
    "phone": st.sampled_from(["+44 20 7946 0958", "(415) 555-2671", "06 12 34 56 78"]),
}


def _digits_shown(secret: str, record: str) -> int:
    """The length of the longest run of digits in ``record`` shared with the secret."""
    digits = re.sub(r"\D", "", secret)
    return max(
        (n for run in re.findall(r"\d+", record) for n in range(1, len(run) + 1)
         for i in range(len(run) - n + 1) if run[i : i + n] in digits),
        default=0,
    )  # fmt: skip


@given(st.data(), st.sampled_from(sorted(SECRETS)), st.sampled_from(["redact", "block"]))
def test_findings_and_reasons_never_hold_the_secret(
    data: st.DataObject, kind: str, action: str
) -> None:
    secret = data.draw(SECRETS[kind])
    value = {"user": {"note": f"see {secret} please", "list": [secret]}}
    before = copy.deepcopy(value)
    pii = Pii([cls(action=action) for cls in DETECTORS.values()])  # type: ignore[arg-type]
    redacted, result = pii.check(value)
    assert value == before  # the input is never changed in place
    assert result.outcome == action
    assert {f.kind for f in result.findings} == {kind}
    assert secret not in repr(redacted)
    record = repr(result)
    assert secret not in record
    if kind == "email":
        assert secret.split("@")[0] not in record
    else:  # at most the last four digits, as on a card receipt
        assert _digits_shown(secret, record) <= 4
