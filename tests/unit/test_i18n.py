"""The translation layer: catalogs are complete and consistent, locale choice, per-locale formatting, plurals."""

from __future__ import annotations

import contextvars
import importlib.util
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po

from server import i18n
from server.settings import ROOT

_spec = importlib.util.spec_from_file_location("fieldpace_tools_messages", ROOT / "tools" / "messages.py")
messages_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(messages_tool)

PLACEHOLDER = re.compile(r"%\((\w+)\)")
HOW_TO_FIX = "Run `make messages` (python tools/messages.py), then translate the empty msgstr entries."


def _po(locale: str):
    path = i18n.CATALOG_DIR / locale / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"{path} is missing. {HOW_TO_FIX}"
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _forms(message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string,)


def _key(msgid) -> str | tuple[str, ...]:
    return msgid if isinstance(msgid, str) else tuple(msgid)


@pytest.fixture(scope="module")
def extracted():
    return messages_tool.extract_messages()


@pytest.fixture
def locale():
    """Switch the request locale for one test and restore it afterwards."""
    tokens = []

    def switch(name: str) -> None:
        tokens.append(i18n.set_locale(name))

    yield switch
    for token in reversed(tokens):
        i18n._locale.reset(token)


# --- catalogs ----------------------------------------------------------------------------------------

def test_extraction_finds_messages(extracted):
    assert messages_tool.LOCALES == i18n.LOCALES, "tools/messages.py must update every locale the app serves"
    ids = messages_tool.message_ids(extracted)
    assert len(ids) > 50, "the extractor found suspiciously few messages"
    assert any(isinstance(i, tuple) for i in ids), "no ngettext message was extracted"


@pytest.mark.parametrize("loc", i18n.LOCALES)
def test_every_message_is_translated(extracted, loc):
    catalog = _po(loc)
    missing = []
    for message in extracted:
        if not message.id:
            continue
        found = catalog.get(message.id)
        if found is None or found.fuzzy or _key(found.id) != _key(message.id) or not all(_forms(found)):
            missing.append(message.id)
    listing = "\n".join(f"  {m!r}" for m in sorted(missing, key=str))
    assert not missing, f"{len(missing)} message(s) without a {loc} translation:\n{listing}\n{HOW_TO_FIX}"


@pytest.mark.parametrize("loc", i18n.LOCALES)
def test_plural_entries_have_every_form(loc):
    catalog = _po(loc)
    expected = {"zh_CN": 1, "en": 2}[loc]
    assert catalog.num_plurals == expected
    for message in catalog:
        if message.id and not isinstance(message.id, str):
            assert len(_forms(message)) == expected, message.id


@pytest.mark.parametrize("loc", i18n.LOCALES)
def test_translations_keep_the_placeholders(loc):
    wrong = []
    for message in _po(loc):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for text in _forms(message):
            if not text:
                continue
            if set(PLACEHOLDER.findall(text)) != wanted:
                wrong.append((message.id, text))
                continue
            try:  # a stray `%` would break formatting at runtime
                text % {name: "x" for name in wanted}
            except (ValueError, TypeError, KeyError):
                wrong.append((message.id, text))
    assert not wrong, "translations whose %(...)s placeholders differ from the msgid:\n" + "\n".join(
        f"  {mid!r} -> {text!r}" for mid, text in wrong)


def test_no_fuzzy_entries_and_no_line_numbers():
    for loc in i18n.LOCALES:
        text = (i18n.CATALOG_DIR / loc / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
        assert not re.search(r"^#,.*\bfuzzy\b", text, re.MULTILINE), f"{loc} has fuzzy entries"
        assert not re.search(r"^#:.*:\d+", text, re.MULTILINE), f"{loc} has line numbers in locations"


def test_extractor_handles_newstyle_calls_plurals_and_labels(tmp_path):
    templates = tmp_path / "server" / "things" / "templates" / "things"
    templates.mkdir(parents=True)
    (templates / "page.html").write_text(
        '{{ _("Hello %(name)s", name=user) }} {{ _(\'Plain\') }}\n'
        '{{ ngettext("%(num)s thing", "%(num)s things", items | length) }}\n'
        '{{ _(label_from_a_constant) }}\n'
    )
    (tmp_path / "server" / "things" / "labels.py").write_text(
        'from server import i18n\nfrom server.i18n import N_, _, ngettext\n'
        'LABELS = {"a": N_("Label A")}\n'
        'def f(n):\n'
        '    return _("Done %(n)s.", n=n), i18n._("Via module"), ngettext("%(num)s day", "%(num)s days", n)\n'
    )
    (tmp_path / "web" / "templates").mkdir(parents=True)
    (tmp_path / "web" / "templates" / "base.html").write_text('<nav aria-label="{{ _(\'Main\') }}"></nav>')

    ids = messages_tool.message_ids(messages_tool.extract_messages(tmp_path))
    assert ids == {
        "Hello %(name)s", "Plain", ("%(num)s thing", "%(num)s things"), "Label A", "Done %(n)s.",
        "Via module", ("%(num)s day", "%(num)s days"), "Main",
    }


def test_catalog_rendering_is_deterministic(extracted):
    for loc in i18n.LOCALES:
        first, _cleared = messages_tool.update_catalog(loc, extracted)
        second, _cleared = messages_tool.update_catalog(loc, extracted)
        assert messages_tool._render(first) == messages_tool._render(second)


# --- locale choice -----------------------------------------------------------------------------------

def test_user_setting_wins_over_accept_language():
    assert i18n.pick_locale("en", "zh-CN,zh;q=0.9", "zh_CN") == "en"
    assert i18n.pick_locale("zh_CN", "en-US,en;q=0.9", "en") == "zh_CN"


@pytest.mark.parametrize("header", ["zh-CN", "zh", "zh-Hans-CN", "zh-CN,zh;q=0.9,en;q=0.8", "fr, zh;q=0.5"])
def test_chinese_headers_pick_simplified_chinese(header):
    assert i18n.pick_locale(None, header, "en") == "zh_CN"


@pytest.mark.parametrize("header", ["en-US", "en", "en-GB,en;q=0.9", "zh-CN;q=0.5, en-US;q=0.9"])
def test_english_headers_pick_english(header):
    assert i18n.pick_locale(None, header, "zh_CN") == "en"


@pytest.mark.parametrize("default", ["zh_CN", "en"])
def test_unsupported_language_falls_back_to_the_default(default):
    assert i18n.pick_locale(None, "fr", default) == default
    assert i18n.pick_locale(None, "fr-FR,de;q=0.5", default) == default
    assert i18n.pick_locale(None, None, default) == default
    assert i18n.pick_locale("xx", None, default) == default  # an unknown user setting is ignored


@pytest.mark.parametrize("header", ["", ";;;", ",,,", "*", ";q=", "en;q=abc", "zh;q=;q=1", "-_-", "\x00\xff",
                                    "q=1;q=2", "a" * 5000, "🙂", "en-US;q=1.0.0, zh"])
def test_garbage_accept_language_does_not_crash(header):
    assert i18n.pick_locale(None, header, "zh_CN") in i18n.LOCALES


def test_unknown_default_means_english():
    assert i18n.pick_locale(None, None, "fr") == "en"


# --- gettext and formatting --------------------------------------------------------------------------

def test_gettext_follows_the_locale(locale):
    locale("zh_CN")
    assert i18n._("Daily report") == "日报"
    assert i18n.gettext("Customer %(name)s saved.", name="华为") == "客户“华为”已保存。"
    assert i18n.current_locale() == "zh_CN"
    locale("en")
    assert i18n._("Daily report") == "Daily report"
    assert i18n.gettext("Customer %(name)s saved.", name="Huawei") == "Customer Huawei saved."
    locale("fr")  # unsupported: English
    assert i18n.current_locale() == "en"


def test_unknown_message_falls_back_to_the_msgid(locale):
    locale("zh_CN")
    assert i18n._("Not in any catalog %(x)s", x=1) == "Not in any catalog 1"


def test_dates_follow_the_locale():
    def run():
        i18n.set_timezone("Asia/Shanghai")
        late_utc = datetime(2024, 3, 5, 20, 0, tzinfo=UTC)  # already 6 March in Shanghai
        i18n.set_locale("zh_CN")
        zh = (i18n.fmt_date(date(2024, 3, 5)), i18n.fmt_date(late_utc), i18n.fmt_weekday(date(2024, 3, 5)))
        i18n.set_locale("en")
        en = (i18n.fmt_date(date(2024, 3, 5)), i18n.fmt_date(late_utc), i18n.fmt_weekday(date(2024, 3, 5)))
        return zh, en

    zh, en = contextvars.copy_context().run(run)  # keep the locale and time zone changes out of other tests
    assert zh == ("2024年3月5日", "2024年3月6日", "星期二")
    assert en == ("Mar 5, 2024", "Mar 6, 2024", "Tuesday")
    assert i18n.fmt_date(None) == ""


def test_money_follows_the_locale(locale):
    locale("zh_CN")
    assert i18n.fmt_money(Decimal("1234.5"), "CNY") == "¥1,234.50"
    assert i18n.fmt_money(1234.5, "USD") == "US$1,234.50"
    locale("en")
    assert i18n.fmt_money(Decimal("1234.5"), "CNY") == "CN¥1,234.50"
    assert i18n.fmt_money(1234.5, "USD") == "$1,234.50"
    assert i18n.fmt_money(None) == ""


def test_numbers_follow_the_locale(locale):
    for loc in ("zh_CN", "en"):
        locale(loc)
        assert i18n.fmt_number(1234567.891) == "1,234,567.891"
        assert i18n.fmt_number(Decimal("1234.5"), 2) == "1,234.50"
        assert i18n.fmt_number(1234.4, 0) == "1,234"
        assert i18n.fmt_number(None) == ""


# --- plurals -----------------------------------------------------------------------------------------

def _plural_messages(loc: str):
    return [m for m in _po(loc) if m.id and not isinstance(m.id, str) and all(_forms(m))]


def test_ngettext_in_english_picks_singular_or_plural(locale):
    locale("en")
    plurals = _plural_messages("en")
    if not plurals:
        pytest.skip("no ngettext message in the sources")
    for message in plurals:
        singular, plural = message.id
        one, other = _forms(message)
        assert i18n.ngettext(singular, plural, 1) == one % {"num": 1}
        for n in (0, 2, 5):
            assert i18n.ngettext(singular, plural, n) == other % {"num": n}


def test_ngettext_in_chinese_translates_both_counts(locale):
    locale("zh_CN")
    plurals = _plural_messages("zh_CN")
    if not plurals:
        pytest.skip("no ngettext message in the sources")
    for message in plurals:
        singular, plural = message.id
        (only,) = _forms(message)
        for n in (1, 3):
            text = i18n.ngettext(singular, plural, n)
            assert text == only % {"num": n}
            assert text != (singular if n == 1 else plural) % {"num": n}


@pytest.fixture
def tiny_catalogs(tmp_path, monkeypatch):
    """A throwaway catalog directory with one plural message, so the rules do not depend on the app's texts."""
    po = {
        "zh_CN": ('"Plural-Forms: nplurals=1; plural=0;\\n"\n', 'msgstr[0] "共 %(num)s 个文件"\n'),
        "en": ('"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n',
               'msgstr[0] "%(num)s file (en)"\nmsgstr[1] "%(num)s files (en)"\n'),
    }
    for loc, (plural_forms, strings) in po.items():
        path = tmp_path / loc / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True)
        path.write_text(
            'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n' + plural_forms + "\n"
            '#, python-format\nmsgid "%(num)s file"\nmsgid_plural "%(num)s files"\n' + strings + "\n"
            '#, fuzzy\nmsgid "Guess"\nmsgstr "猜的"\n',
            encoding="utf-8",
        )
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    i18n.translations.cache_clear()
    yield
    i18n.translations.cache_clear()


def test_translations_follow_each_locales_plural_forms(tiny_catalogs, locale):
    zh, en = i18n.translations("zh_CN"), i18n.translations("en")
    assert [zh.ngettext("%(num)s file", "%(num)s files", n) for n in (0, 1, 2)] == ["共 %(num)s 个文件"] * 3
    assert [en.ngettext("%(num)s file", "%(num)s files", n) for n in (0, 1, 2)] == [
        "%(num)s files (en)", "%(num)s file (en)", "%(num)s files (en)"]
    assert zh.gettext("Guess") == "Guess"  # fuzzy entries are left out of the compiled catalog
    assert i18n.translations("fr").gettext("Guess") == "Guess"  # no catalog: the msgid
    locale("zh_CN")
    assert [i18n.ngettext("%(num)s file", "%(num)s files", n) for n in (1, 4)] == ["共 1 个文件", "共 4 个文件"]
    assert i18n._("Guess") == "Guess"  # fuzzy entries are never used
    locale("en")
    assert [i18n.ngettext("%(num)s file", "%(num)s files", n) for n in (1, 4)] == ["1 file (en)", "4 files (en)"]
    assert i18n.translate_plural("%(num)s file", "%(num)s files", 4) == "%(num)s files (en)"  # unformatted
    assert i18n.ngettext("%(num)s dir", "%(num)s dirs", 1) == "1 dir"  # unknown: the English forms


def test_an_untranslated_form_falls_back_to_the_english_msgid(tmp_path, monkeypatch, locale):
    path = tmp_path / "zh_CN" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        'msgid "Empty"\nmsgstr ""\n\n'
        'msgid "%(num)s day"\nmsgid_plural "%(num)s days"\nmsgstr[0] ""\n\n'
        'msgid "Daily report"\nmsgstr "日报"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        locale("zh_CN")
        assert i18n._("Daily report") == "日报"
        assert i18n._("Empty") == "Empty"
        assert [i18n.ngettext("%(num)s day", "%(num)s days", n) for n in (1, 2)] == ["1 day", "2 days"]
    finally:
        i18n.translations.cache_clear()
