"""normalize_text: every evasion stage, text that must stay as it is, idempotence, speed."""

from __future__ import annotations

import itertools
import logging
import random
import time
import unicodedata

import pytest

from classifiers import normalize
from classifiers.normalize import CONFUSABLES, DOUBLE_LETTER_WORDS, normalize_text

# ----------------------------------------------------------------------------- changed

NFKC_AND_INVISIBLE = [
    ("ｙｏｕ  i\u200bdiot", "you idiot"),  # the pipeline's original contract
    ("you are ｓｔｕｐｉｄ", "you are stupid"),
    ("you are 𝐬𝐭𝐮𝐩𝐢𝐝", "you are stupid"),
    ("you are 𝑠𝑡𝑢𝑝𝑖𝑑", "you are stupid"),
    ("you are 𝔰𝔱𝔲𝔭𝔦𝔡", "you are stupid"),
    ("you are 𝕤𝕥𝕦𝕡𝕚𝕕", "you are stupid"),
    ("you are ⓢⓣⓤⓟⓘⓓ", "you are stupid"),
    ("st\u200bup\u200did", "stupid"),
    ("st\u200dupid", "stupid"),
    ("st\ufeffupid", "stupid"),
    ("st\u2060upid", "stupid"),
    ("st\u00adupid", "stupid"),  # soft hyphen
    ("st\u200cupid", "stupid"),
    ("stu\ufe0fpid", "stupid"),  # variation selector after a Latin letter
    ("\u202estupid\u202c", "stupid"),  # bidi override
    ("st\U000e0041upid", "stupid"),  # stray tag character
    ("idiot\u3164face", "idiotface"),  # Hangul filler used as an invisible character
    ("ꜱᴛᴜᴘɪᴅ", "stupid"),  # small capitals
    ("ʏᴏᴜ ᴀʀᴇ ꜱᴛᴜᴘɪᴅ", "you are stupid"),
    ("  lots   of\tspace\n\nhere  ", "lots of space here"),
]

HOMOGLYPHS = [
    ("ѕtuрid", "stupid"),  # Cyrillic in a Latin word
    ("you are ѕтuрid", "you are stupid"),
    ("you are ѕτυрιԁ", "you are stupid"),  # Cyrillic and Greek mixed
    ("ΙDΙΟΤ", "IDIOT"),  # Greek capitals with a Latin D
    ("you are аѕѕ", "you are ass"),  # all-lookalike word in a Latin sentence
    ("іԁіоτ you are", "idiot you are"),
    ("ѕ7uр1d", "stupid"),  # lookalikes and leetspeak together
    ("ѕ\u200btupid", "stupid"),  # lookalike and zero-width together
    ("bitϲh", "bitch"),  # lunate sigma (NFKC turns it into a final sigma)
]

LETTER_SPACING = [
    ("i d i o t", "idiot"),
    ("you are s t u p i d", "you are stupid"),
    ("you are s t u p i d!", "you are stupid!"),
    ("y o u  a r e  s t u p i d", "you are stupid"),  # wider gaps separate words
    ("s.t.u.p.i.d", "stupid"),
    ("s-t-u-p-i-d", "stupid"),
    ("what a s-t-u-p-i-d idea", "what a stupid idea"),
    ("1 d 1 o t", "idiot"),
    ("o m g", "omg"),
    ("U.S.A. is big", "USA. is big"),
]

INSERTED_PUNCTUATION = [
    ("st.upid", "stupid"),
    ("stu.pid", "stupid"),
    ("stupi.d", "stupid"),
    ("st-upid", "stupid"),
    ("st_upid", "stupid"),
    ("stu_pid", "stupid"),
    ("st~upid", "stupid"),
    ("st^upid", "stupid"),
    ("st*upid", "stupid"),
    ("stu*pid", "stupid"),
    ("st'upid", "stupid"),
    ("stu'pid", "stupid"),
    ("t'he", "the"),
    ("co.me", "come"),
    ("suc.h", "such"),
    ("oppone-nts", "opponents"),  # no English word starts with "nt"
    ("hold-ing", "holding"),  # a suffix is not a word of a compound
    ("St.upid", "Stupid"),
    ("you are an i.d.i.o.t.", "you are an idiot."),
    ("e-mail", "email"),  # harmless
    ("snake_case", "snakecase"),  # harmless
]

LEETSPEAK = [
    ("1diot", "idiot"),
    ("id10t", "idiot"),
    ("st00p1d", "stoopid"),
    ("stup1d", "stupid"),
    ("5tupid", "stupid"),
    ("$tupid", "stupid"),
    ("b1tch", "bitch"),
    ("b!tch", "bitch"),
    ("sh1t", "shit"),
    ("$hit", "shit"),
    ("a$$", "ass"),
    ("4ss", "ass"),
    ("b@stard", "bastard"),
    ("h3ll0", "hello"),
    ("l00s3r", "looser"),
    ("k1ll", "kill"),
    ("ki11", "ki11"),  # trailing digits alone are not decoded (see module docstring)
    ("ki1l", "kill"),  # "1" between i and l reads as l
    ("|0ser", "loser"),
    ("|ame", "lame"),
    ("th3", "the"),
    ("ar3", "are"),
    ("jus7", "just"),
    ("n1gg4", "nigga"),
    ("f4g", "fag"),
    ("0u7", "out"),
    ("4nd", "and"),  # not an ordinal
    ("Bull$hit", "Bullshit"),
    ("STUP1D", "STUPiD"),  # letters come out lower-case; the tokenizer is uncased
]

STRETCHED = [
    ("stuuupid", "stupid"),
    ("stuuuuuuupid", "stupid"),
    ("sooo", "so"),
    ("nooooo way", "no way"),
    ("yesss", "yes"),
    ("goood", "good"),  # a listed double-letter word, not "god"
    ("kiiiill", "kill"),
    ("killlll", "kill"),
    ("hellooo", "hello"),
    ("asssshole", "asshole"),
    ("LMAOOO", "LMAO"),
    ("goooo", "go"),
]

CHANGED = NFKC_AND_INVISIBLE + HOMOGLYPHS + LETTER_SPACING + INSERTED_PUNCTUATION
CHANGED += LEETSPEAK + STRETCHED


@pytest.mark.parametrize(("text", "expected"), CHANGED)
def test_normalization(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


# ----------------------------------------------------------------------------- unchanged

UNCHANGED = [
    # URLs, e-mail addresses, domains, mentions, hashtags
    "see https://example.com/a_b-c.d?x=1&y=st.upid ok",
    "http://sub.example.co.uk/path/to/file_name-1.html",
    "go to www.example-site.org/st.upid now",
    "visit example.com or bit.ly/3xY_z now",
    "write to john.doe+chat@example.co.uk today",
    "@user hello",
    "@us3r_n4me and @b00b are here",
    ".@USER RT@USER you too",
    "ping <@123456789> and <#987654>",
    "#MeToo #fuck1ng #Trump2020",
    "$AAPL and $TSLA are up",
    # numbers, prices, times, ordinals, units, versions
    "meet at 3:30pm on the 2nd, or 10am on the 21st",
    "it costs $20, $19.99, US$20, €15 or 1,000 yen",
    "1st 2nd 3rd 4th 11th 90s 1080p 4k 5G 3D 100k 5min 10x",
    "version v1.2.3 of python3.11 with covid-19 in 2020",
    "call 555-123-4567 or +1 (555) 123 4567",
    "mp3 mp4 win10 ps4 PS5 covid19 x86 h264 b4 gr8 l8r 4ever 4u 1v1 2x4",
    "I scored 7/10, 3.5 stars and 99.9% uptime",
    "top 10 list: 1. a 2. b",
    # English that looks a little like an attack
    "don't can't we're I'm it's you'll they've I'd y'all O'Brien ma'am rock'n'roll",
    "I'ma DM'd gov't som'n J.Cole wrong.but cat.you LAME@USER B@STARD 1Million be4",
    "well-known self-esteem ex-wife mother-in-law up-to-date state-of-the-art",
    "e.g. i.e. a.m. p.m. U.S. U.K. Ph.D. Mr.Smith",
    "wait...what? ok.. sure!! why?!",
    "home.Then we left",
    "notes.txt and image.png",
    "f*ck sh*t b*tch f**k",
    "good bad aardvark coffee bookkeeper",
    "zzz xxx aaa hmm World War III, Super Bowl VIII",
    "r u a bot? i c u",
    "a b",
    "wow!That was close",
    ":) :P :D xD <3 x_x o_O T_T ^_^ -_-",
    "C++ and C# are languages; A+ grade; R&B; AT&T",
    # emoji
    "😂👍🏽❤️ 👨\u200d👩\u200d👧 🏳️\u200d🌈 🇺🇸 1️⃣ #️⃣",
    "England 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f flag",
    # scripts written legitimately
    "Привет, как дела? Это очень хорошо.",
    "Ура",
    "Я люблю Москву и Санкт-Петербург",
    "I love Москва",
    "Η γάτα κάθεται στο χαλί.",
    "και ο",
    "the α particle and β decay",
    "你好世界 今天天气很好。",
    "こんにちは、元気ですか",
    "안녕하세요 반갑습니다",
    "مرحبا كيف حالك",
    "می\u200cخواهم",  # Persian ZWNJ
    "क्\u200dष",  # Devanagari ZWJ
    "שלום עולם",
    "Ça va très bien, merci. Müller, Søren, Dvořák, naïve café",
]


@pytest.mark.parametrize("text", UNCHANGED)
def test_unchanged(text: str) -> None:
    assert normalize_text(text) == text


def test_non_ascii_is_nfkc_folded_but_otherwise_kept() -> None:
    # The baseline's documented side effect: fullwidth punctuation becomes ASCII.
    assert normalize_text("你好？") == "你好?"
    assert normalize_text("ﬁne") == "fine"


def test_empty_and_blank() -> None:
    assert normalize_text("") == ""
    assert normalize_text(" \t\n ") == ""
    assert normalize_text("\u200b") == ""


# ----------------------------------------------------------------------------- properties


def test_idempotent_on_every_example() -> None:
    examples = [t for t, _ in CHANGED] + [e for _, e in CHANGED] + UNCHANGED
    for text in examples:
        once = normalize_text(text)
        assert normalize_text(once) == once, text


_FUZZ_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789"
    "      .-_*~^+='’·•!|@#$€:/,?\"()<>&%\n\t"
    "аеорсхуѕіјкмтАВЕКМНОРСТХαεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧ"
    "дилпяжλάω你好مر"
    "ｓｔ𝐬𝐭ⓐꜱᴛ\u200b\u200c\u200d\ufeff\u00ad\u0301\ufe0f\U000e0041😂🏴👨"
)


def test_fuzz_never_raises_and_is_idempotent() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        text = "".join(rng.choice(_FUZZ_ALPHABET) for _ in range(rng.randint(0, 40)))
        once = normalize._normalize(text)  # the unguarded implementation: bugs must surface
        assert normalize._normalize(once) == once, repr(text)


def test_a_failing_stage_falls_back_to_the_baseline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> str:
        raise IndexError("boom")

    monkeypatch.setattr(normalize, "_normalize", broken)
    with caplog.at_level(logging.WARNING, logger="classifiers.normalize"):
        assert normalize_text("ｙｏｕ  secret\u200b text") == "you secret text"
    assert "IndexError" in caplog.text
    assert "secret" not in caplog.text  # message content never goes into logs


def test_fast_path_only_collapses_whitespace() -> None:
    text = "  just   plain message  "
    assert normalize._SUSPICIOUS_ASCII_RE.search(text) is None
    assert normalize_text(text) == "just plain message"


def test_long_pathological_inputs_stay_fast() -> None:
    inputs = [
        "a" * 2000,
        "a." * 1000,
        "a " * 1000,
        "a.b-c_d*e'f~g" * 150,
        "h3ll0w0rld" * 200,
        "@a" * 1000,
        "a.b@c" * 400,
        "аbс" * 666,
        "a\u200b" * 1000,
        "you are st.upid 1diot s t u p i d stuuupid ѕtuрid " * 40,
    ]
    for text in inputs:
        started = time.perf_counter()
        normalize_text(text)
        assert time.perf_counter() - started < 0.25, text[:20]


def test_tables_are_consistent() -> None:
    for lookalike, latin in CONFUSABLES.items():
        assert unicodedata.normalize("NFKC", lookalike) == lookalike, lookalike
        assert latin.isascii()
        assert latin.isalpha()
        assert not lookalike.isascii()
    for word in DOUBLE_LETTER_WORDS:
        assert word.isascii()
        assert word.islower()
        assert any(a == b for a, b in itertools.pairwise(word)), word
