"""Text normalization applied before tokenization: undo common evasion tricks, keep clean text.

:func:`normalize_text` runs on the worker's event loop for every message, so everything it
needs (regular expressions, ``str.translate`` tables, word lists) is built once at import, and
plain ASCII text without any suspicious pattern returns after one regex search.

Stages, in order (each one is a no-op on text it has no business with):

1. **Unicode NFKC** (non-ASCII text only; ASCII is NFKC-invariant). Folds fullwidth letters
   (``ｓｔｕｐｉｄ``), mathematical alphanumerics (``𝐬𝐭𝐮𝐩𝐢𝐝``, ``𝑠𝑡𝑢𝑝𝑖𝑑``), circled and
   squared letters, ligatures, superscripts. Side effect inherited from the original
   baseline: fullwidth punctuation in CJK text (``？``) becomes ASCII (``?``).
2. **Invisible characters**: format characters (Unicode category Cf: zero-width space,
   word joiner, BOM, soft hyphen, bidi controls, stray tag characters) and Hangul fillers are
   removed. Characters with a legitimate use are kept where they have it: ZWJ/ZWNJ only go
   when next to a Latin letter or digit (they build emoji sequences and are needed in
   Persian, Arabic and Indic scripts), variation selectors only after a Latin letter, tag
   characters only when they do not follow U+1F3F4 (subdivision flags such as England's),
   and the visible "prepended concatenation marks" (Arabic number signs) are never touched.
3. **Latin small capitals and IPA lookalikes** (``ꜱᴛᴜᴘɪᴅ``, ``ɑ``, ``ɡ``) fold to Latin
   everywhere: no language writes words with them.
4. **Cyrillic / Greek / Armenian homoglyphs** (``ѕtuрid``) fold to Latin only
   (a) inside a word that also contains a Latin letter, or
   (b) in a word made only of lookalikes (≥ 2 letters, digits allowed) when the text contains
   Latin letters and no Cyrillic/Greek/Armenian letter that is *not* a lookalike. A
   sentence really written in Russian or Greek always contains such letters (д, и, л, я, λ,
   ά, ...), so it is left exactly as it is; so is a lone Cyrillic word in a Latin sentence
   when it has one of them (``Москва``).
5. **Protected spans** are split out and left untouched by the remaining stages: URLs
   (``scheme://...``, ``www....``, ``host.tld/path``), bare domains with a generic TLD
   (``example.com``), e-mail addresses, ``@mentions`` (also ``RT@user`` and Discord
   ``<@123>``), ``#hashtags``, cashtags (``$AAPL``) and a bot command opening the message
   (``!play``).
6. **Letter spacing**: three or more single letters/digits separated by single spaces,
   dots or dashes become one word (``i d i o t``, ``s.t.u.p.i.d``, ``s-t-u-p-i-d``,
   ``U.S.A.`` -> ``USA``); at least two must be letters (``1 2 3`` stays). When spaces
   separate them, longer gaps mark word boundaries (``y o u  a r e`` -> ``you are``). Kept:
   runs of at most four letters that are all common one-letter chat words
   (``r u a bot``, ``i c u``: letters among a b c i k n r u y).
7. **Inserted punctuation** between letters inside a word (digits never join: ``3.5``,
   ``v1.2``, ``covid-19``), per separator:

   * ``_ ~ ^ · •``: removed when the word has ≥ 3 letters (``stu_pid``, ``snake_case``).
   * ``.``: removed in words of ≥ 3 letters (``st.upid``, ``co.me``; ``e.g``, ``a.m``,
     ``U.S`` stay), except before an upper-case letter that follows a lower-case one
     (``home.Then``, ``Mr.Smith``), after an initial (``J.Cole``), next to a common
     function word when both parts have ≥ 3 letters (``wrong.but``: a missing space after a
     full stop) and before a file extension at the end (``notes.txt``).
   * ``*``: removed between two parts of ≥ 2 letters or next to a vowel (``st*upid``,
     ``a*re``); between consonants with a one-letter side it usually *replaces* a vowel
     (``f*ck``, ``b*tch``, ``sh*t``), which no rule can restore, so those stay.
   * ``-``: removed when it is the word's only hyphen, the left part is not a prefix such as
     ``anti``/``self``/``ex`` and either a part has ≤ 2 letters (``st-upid``, ``stupi-d``;
     harmlessly ``e-mail`` -> ``email``, ``t-shirt`` -> ``tshirt``), the right part is a
     suffix (``hold-ing``) or cannot begin a word (``oppone-nts``). ``well-known``,
     ``self-esteem``, ``law-abiding``, ``mother-in-law`` stay.
   * apostrophes: removed when the word has only one and it is not an ending (``'s``,
     ``'t``, ``'d``, ``'n``, ``'em``, ``'ll``/``'re``/``'ve`` after a pronoun, ``I'm``,
     ``I'ma``), a name (``O'Brien``) or ``y'all``-style word: ``st'upid``, ``t'he`` are
     joined; ``don't``, ``DM'd``, ``gov't``, ``John's`` stay.
8. **Leetspeak** (``0→o 1→i/l 3→e 4→a 5→s 7→t @→a $→s !→i |→l €→e``) inside tokens that
   mix letters with those characters: a run of them between letters (``st00p1d``,
   ``b@stard``, ``id!ot``; not ``wow!That``, ``yes!!!no`` or a glued mention ``im@USER``),
   one or two leading ones before a word (``1diot``, ``$hit``, ``0u7``; not ``1Million``),
   trailing ones when the token had another substitution (``h3ll0``), a single trailing
   digit after a lower-case word with a vowel (``ar3``, ``jus7``, ``th3``), or ``$`` after
   lower-case letters (``a$$``). ``1`` becomes ``l`` or ``i`` by its neighbours (a table
   of which is more frequent in English between those letters; ``11`` is ``ll``). Left
   alone: numbers with units or ordinals (``2nd``, ``1st``, ``10am``, ``5min``, ``1080p``,
   ``4k``), product-like names (``mp3``, ``PS4``, ``win10``, ``covid19``, ``python3.11``),
   chat shorthand (``4ever``, ``be4``, ``gr8``), prices and times (``$20``, ``US$20``,
   ``3:30``), and everything protected in stage 5.
9. **Stretched letters**: a run of ≥ 3 identical letters becomes one (``stuuupid`` ->
   ``stupid``, ``sooo`` -> ``so``), or two when that gives a listed double-letter word
   (``goood`` -> ``good``, not ``god``; ``kiiiill`` -> ``kill``; see
   :data:`DOUBLE_LETTER_WORDS`). Double letters are never touched; words of one repeated
   letter (``zzz``, ``xxx``) and upper-case Roman numerals (``VIII``) stay.
10. **Whitespace** runs collapse to one space; leading/trailing space is stripped.

Stages 4-10 are repeated until the text stops changing (at most a few passes), so the
function is idempotent: ``normalize_text(normalize_text(x)) == normalize_text(x)``.
Lower-casing is left to the tokenizer (the shipped one is uncased); letters restored from
leetspeak come out lower-case (``STUP1D`` -> ``STUPiD``).

Known limits (measured by ``python -m classifiers.evasion``): no dictionary is used, so
``-`` between two parts of ≥ 3 letters (``stu-pid``), ``*`` after a one-letter consonant
part (``s*tupid``), an apostrophe before a final s/t/d/n (``stupi'd``), ``1`` where the
neighbour table guesses wrong (``bab1es`` -> ``bables``), trailing digits alone
(``a55``, ``ki11``, ``idi07``), a leading ``@`` (``@ss`` is a mention), an all-caps ``@``
(``B@STARD``) and homoglyphs outside :data:`CONFUSABLES` are not undone; a message written
*entirely* in lookalikes (no Latin letter at all) is left alone, like real Cyrillic. A
stretched double letter of a word that is not listed keeps one letter (``suppppporter`` ->
``suporter``). Some clean text changes harmlessly (``t-shirt`` -> ``tshirt``,
``lmaooo`` -> ``lmao``) and some not quite (``4chan`` -> ``achan``, ``top5`` -> ``tops``,
``hey!that`` -> ``heyithat``, ``ok.thanks`` -> ``okthanks``).
"""

from __future__ import annotations

import logging
import re
import unicodedata

__all__ = ["CONFUSABLES", "DOUBLE_LETTER_WORDS", "normalize_text", "prepare_content"]


log = logging.getLogger(__name__)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --------------------------------------------------------------------------- stage 2
_PREPENDED_CONCATENATION_MARKS = frozenset(
    [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD]
)
_CONTEXT_JOINERS = "\u200c\u200d"  # ZWNJ, ZWJ: kept in emoji sequences and non-Latin scripts
_TAG_RANGE = range(0xE0020, 0xE0080)  # tag characters: kept after U+1F3F4 (subdivision flags)
_EGYPTIAN_FORMAT_CONTROLS = range(0x13430, 0x13460)  # hieroglyph layout controls: legitimate
_HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"  # "blank" letters abused as invisible characters


def _invisible_chars() -> str:
    chars: list[str] = []
    for first, last in ((0, 0x20000), (0xE0000, 0xE1000)):
        for cp in range(first, last):
            ch = chr(cp)
            if unicodedata.category(ch) != "Cf" or ch in _CONTEXT_JOINERS:
                continue
            if (
                cp in _PREPENDED_CONCATENATION_MARKS
                or cp in _TAG_RANGE
                or cp in _EGYPTIAN_FORMAT_CONTROLS
            ):
                continue
            chars.append(ch)
    chars.extend(_HANGUL_FILLERS)
    chars.append("\u034f")  # combining grapheme joiner: invisible, default-ignorable
    return "".join(chars)


_INVISIBLE_RE = re.compile("[" + re.escape(_invisible_chars()) + "]+")
_STRAY_TAGS_RE = re.compile("(?<![\U0001f3f4\U000e0020-\U000e007f])[\U000e0020-\U000e007f]+")

# --------------------------------------------------------------------------- stages 3-4
_ALWAYS_FOLD: dict[str, str] = {
    # Latin letter small capitals (the "small caps font" generators) and IPA lookalikes.
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h",
    "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
    "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ɑ": "a", "ɡ": "g",
}  # fmt: skip
_ALWAYS_FOLD_TABLE = str.maketrans(_ALWAYS_FOLD)

CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k",
    "ӏ": "l", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
    "ү": "y", "м": "m", "т": "t",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "Һ": "H", "І": "I", "Ӏ": "I",
    "Ј": "J", "К": "K", "М": "M", "О": "O", "Р": "P", "Ԛ": "Q", "Ѕ": "S", "Т": "T",
    "Ԝ": "W", "Х": "X", "У": "Y", "Ү": "Y",
    # Greek
    "α": "a", "ς": "c", "ε": "e", "ι": "i", "ϳ": "j", "κ": "k", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "ν": "v", "ω": "w", "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Ϳ": "J", "Κ": "K",
    "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z",
    # Armenian
    "հ": "h", "ո": "n", "օ": "o", "ս": "u",
}  # fmt: skip
"""Lookalike letter (as it is after NFKC) -> Latin letter, folded by stage 4."""

_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)
_CONFUSABLE_CLASS = "".join(sorted(CONFUSABLES))
_CONFUSABLE_RE = re.compile(f"[{_CONFUSABLE_CLASS}]")
_COVERED_SCRIPT_RE = re.compile(
    "[\u0370-\u03ff\u0400-\u052f\u0531-\u058f\u1c80-\u1c8f\u1f00-\u1fff]"
)
_ASCII_LETTER_RE = re.compile("[A-Za-z]")
# A word (letters and digits) with at least one lookalike in it, matched from its start.
_CONFUSABLE_WORD_RE = re.compile(f"(?<![^\\W_])[^\\W_]*?[{_CONFUSABLE_CLASS}][^\\W_]*")
_JOINERS_NEAR_LATIN_RE = re.compile(
    f"(?<=[A-Za-z{_CONFUSABLE_CLASS}])[{_CONTEXT_JOINERS}\ufe00-\ufe0f]+"  # VS: not in "1️⃣"
    f"|(?<=[0-9])[{_CONTEXT_JOINERS}]+"
    f"|[{_CONTEXT_JOINERS}]+(?=[A-Za-z0-9{_CONFUSABLE_CLASS}])"
)


def _fold_confusables(text: str) -> str:
    if _CONFUSABLE_RE.search(text) is None:
        return text
    whole_words = _ASCII_LETTER_RE.search(text) is not None and all(
        ch in CONFUSABLES or not ch.isalpha() for ch in _COVERED_SCRIPT_RE.findall(text)
    )

    def fold(match: re.Match[str]) -> str:
        word = match.group()
        if _ASCII_LETTER_RE.search(word) is not None:
            return word.translate(_CONFUSABLE_TABLE)
        if (
            whole_words
            and sum(ch in CONFUSABLES for ch in word) >= 2
            and all(ch in CONFUSABLES or ch in "0123456789" for ch in word)
        ):
            return word.translate(_CONFUSABLE_TABLE)
        return word

    return _CONFUSABLE_WORD_RE.sub(fold, text)


# --------------------------------------------------------------------------- stage 5
# Bare domains (no scheme, "www." or path) only with generic TLDs: an inserted dot often
# leaves a two-letter tail that is some country's code ("bitch.es", "sh.it", "co.me").
_COMMON_TLDS = "com|net|org|edu|gov|mil|info|biz|app|dev|xyz|io|co\\.uk"
_MENTION_LIKE = (
    # Each alternative starts with one of "@#$<R!", so the scan skips to those characters;
    # the look-behinds then check what precedes them.
    r"[@#$<R!](?:"
    r"(?<=(?<![\w@#&$])[@#])\w+"  # @mention, #hashtag
    r"|(?<=(?<![\w@#&$])\$)[A-Z]{1,6}(?!\w)"  # $CASHTAG
    r"|(?<=<)[@#][!&]?\d+>"  # Discord <@123>
    r"|(?<=R)T@\w+"  # mention glued to a retweet marker
    r"|(?<=^!)[A-Za-z]\w*"  # a bot command opening the message ("!play")
    r")"
)
_URL_LIKE = (
    r"(?<![\w.%+\-])(?:"
    r"(?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp])://\S+"
    r"|[Ww][Ww][Ww]\.\S+"
    r"|[\w.%+\-]++@[A-Za-z0-9\-]++(?:\.[A-Za-z0-9\-]++)+"  # e-mail
    r"|[A-Za-z0-9\-]++(?:\.[A-Za-z0-9\-]++)+/\S*"  # host/path
    rf"|(?:[A-Za-z0-9\-]++\.)+(?i:{_COMMON_TLDS})(?![.\-]?\w)"  # bare domain
    r")"
)
_PROTECTED_RE = re.compile(f"({_MENTION_LIKE})")
_PROTECTED_WITH_URLS_RE = re.compile(f"({_URL_LIKE}|{_MENTION_LIKE})")
_URL_HINT_RE = re.compile(r"\.[A-Za-z0-9]|://")  # URLs, e-mails and domains all have one

# --------------------------------------------------------------------------- stages 6-8
_LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
    "@": "a", "$": "s", "!": "i", "|": "l", "€": "e",
}  # fmt: skip
# Contexts (previous letter or ^, next letter or $) in which "1" stands for "l", not "i":
# those where "l" is the more frequent of the two among the 10,000 most frequent whole words
# of the shipped (BERT uncased) WordPiece vocabulary; 93 % right on those words.
_ONE_IS_L = _words(
    """
    ^a ^e ^i ^o ^u ^y a$ aa ab ac ae af ai ak al ao ap as at au av ay ba be bi bo bu by cc ce
    ci co cu cy di dy e$ ea eb ec ed ee ef eh ei el em eo ep es et eu ey f$ fa fi fo fu fy ga
    ge gi gy hi hy i$ ia ib id ie ih ii ik il im io ir is it iu iv iw iy ka ke ko ky l$ la le
    li lo lu lw ly mb my ni ny o$ oa od oe of oi ok ol om oo op ot ou ov oy pa pe pi po pu py
    ri ry sa se si sy ti ty u$ ua ud ue uf ug ui uk ul uo up ut uu uy w$ we wi wy ya ye yi yo
    yu yv
    """
)
_SEPARATORS = ".-_*~^'’·•"
_SEP_CLASS = re.escape(_SEPARATORS)
_WORD_CHARS = "A-Za-z0-9@$!|€"
_VOWELS = frozenset("aeiouAEIOU")
_CHAT_SINGLE_LETTERS = frozenset("abcikinruy")
# A spaced-out element must not touch a word character, nor a separator that touches one
# ("Whe*n I t*hrow" has no spaced-out letters); sentence punctuation after it is fine.
_ELEMENT_BEFORE = rf"(?<![\w@$€'’])(?<!\w[{_SEP_CLASS}!|])"
_ELEMENT_AFTER = rf"(?![\w@$€'’]|[{_SEP_CLASS}!|]\w)"
_SPACED_PUNCT_RE = re.compile(
    rf"{_ELEMENT_BEFORE}[A-Za-z0-9]([.\-])[A-Za-z0-9](?:\1[A-Za-z0-9])+(?![\w@$€]|[.\-]\w)"
)
_SPACED_WS_RE = re.compile(rf"{_ELEMENT_BEFORE}[A-Za-z0-9](?:\s+[A-Za-z0-9]{_ELEMENT_AFTER})+")
_WS_SPLIT_RE = re.compile(r"(\s+)")


def _enough_letters(elements: list[str]) -> bool:
    return len(elements) >= 3 and sum(ch.isalpha() for ch in elements) >= 2


def _join_spaced_punct(match: re.Match[str]) -> str:
    run = match.group()
    elements = run[::2]
    return elements if _enough_letters(list(elements)) else run


def _join_spaced_ws(match: re.Match[str]) -> str:
    run = match.group()
    parts = _WS_SPLIT_RE.split(run)
    elements, gaps = parts[::2], parts[1::2]
    if not _enough_letters(elements):
        return run
    if len(elements) <= 4 and all(ch.lower() in _CHAT_SINGLE_LETTERS for ch in elements):
        return run  # "r u a bot", "i c u"
    groups: list[str] = [elements[0]]
    for gap, element in zip(gaps, elements[1:], strict=True):
        if gap == " ":
            groups[-1] += element
        else:
            groups.append(element)
    # Three or more one-letter groups in a row would be joined by a second pass: join now.
    merged: list[str] = []
    singles: list[str] = []
    for group in [*groups, ""]:
        if len(group) == 1:
            singles.append(group)
            continue
        if len(singles) >= 3:
            merged.append("".join(singles))
        else:
            merged.extend(singles)
        singles = []
        if group:
            merged.append(group)
    return " ".join(merged)


# A maximal run of word characters and separators that contains a leet character or a
# separator followed by a word character ("word." does not qualify); possessive quantifiers
# and the look-behind keep the scan linear on long runs of letters.
_TOKEN_RE = re.compile(
    f"(?<![{_WORD_CHARS}{_SEP_CLASS}])[A-Za-z]*+"
    f"(?:[0-9@$!|€]|[{_SEP_CLASS}](?=[{_WORD_CHARS}]))[{_WORD_CHARS}{_SEP_CLASS}]*+"
)
_LEET_CHAR_RE = re.compile("[0-9@$!|€]")
_NUMBERING_RE = re.compile(r"\d[.\-_]\d")  # "python3.11", "v1.2": version numbers, no leet
# Stripped from both ends of a token before anything else: separators, "!" and "||" (Discord
# spoiler marks). A single "|" at either end stays ("|ove" is leetspeak), and so does a single
# "!" before a letter ("!diot"; a bot command opening the message is protected instead).
_EDGE_CHARS = frozenset(_SEPARATORS + "!")
_FRAGMENT_SPLIT_RE = re.compile(f"([{_SEP_CLASS}]+)")
_PIECE_RE = re.compile(f"[{_WORD_CHARS}]+")
_RUN_SPLIT_RE = re.compile("([^A-Za-z]+)")
_PRONOUNS = _words("i you he she it we they who what where when why how there here that")
_CONTRACTION_LEFT: dict[str, frozenset[str] | None] = {
    "s": None,  # possessive: after any word
    "d": None,  # "I'd", but also "DM'd", "PO'd"
    "t": None,  # "don't", but also "gov't"
    "n": None,  # "som'n", "rock'n"
    "ma": frozenset({"i"}),
    "ll": _PRONOUNS | {"this"},
    "re": _PRONOUNS,
    "ve": _PRONOUNS | {"could", "would", "should", "might", "must"},
    "m": frozenset({"i"}),
    "em": None,
}
_APOSTROPHE_WORDS = _words("y'all o'clock d'you c'mon g'day y'know o'er e'er ma'am i'ont")
# Words that stand alone far more often than they end or start a longer one: "wrong.but" and
# "cat.you" are a missing space after a full stop, not an inserted dot.
_FUNCTION_WORDS = _words(
    "the and but you she her his him they them their for not that this with was are have"
    " had what when why how who all out too yes now then there here its our your"
)
_HYPHEN_PREFIXES = _words(
    "anti self non pre post pro co ex re de well all half semi multi over under mid inter"
)
_SUFFIXES = _words(
    "s es ed er ers ing ings ly al als ion ions tion tions ment ments ness ity ies est ous ive"
    " ism ist ists able ible ize ise ated ate ting ted ter ters"
)
# Two-consonant word beginnings of English: "stu-pid" cannot be told from "well-known", but
# "oppone-nts" can, because no word starts with "nt".
_ONSETS = _words(
    "bl br ch cl cr dr dw fl fr gh gl gn gr kl kn kr ph pl pr ps qu rh sc sh sk sl sm sn sp sq"
    " st sv sw th tr ts tw vl wh wr"
)
_FILE_EXTENSION_LIST = (
    "txt pdf doc docx xls xlsx ppt pptx csv json xml yaml yml html htm css js py java cpp zip"
    " tar rar exe dmg apk iso jpg jpeg png gif webp svg mp3 mp4 mov avi mkv wav flac"
)
_FILE_EXTENSIONS = _words(_FILE_EXTENSION_LIST)
_NUMBER_UNIT_RE = re.compile(
    r"\d*1st|\d*2nd|\d*3rd|\d+[vx]\d+"  # ordinals, "1v1", "2x4"
    r"|\d+(?:th|s|k|m|b|am|pm|p|i|g|d|x|h|hr|hrs|min|mins|sec|secs|ms|mb|gb|tb|kb"
    r"|px|fps|hz|khz|mhz|ghz|kg|lb|lbs|km|mi|cm|mm|ml|oz|ft|in|yo|y|yr|yrs|w|wk|wks|mo|v|mp"
    r"|mph|kph|kmh|c|f|ish|day|days|gen)",
    re.IGNORECASE,
)
_LETTERS_THEN_DIGITS_RE = re.compile(r"[A-Za-z]+\d+")
_SHORTHAND = _words("be4 b4 gr8 l8 h8 m8 w8")
_FOUR_SHORTHAND = frozenset({"ever", "eva", "real", "got", "get", "give", "ward", "sure", "life"})


def _letters(fragment: str) -> int:
    return sum(1 for ch in fragment if ch.isascii() and ch.isalpha())


def _is_contraction(left: str, right: str) -> bool:
    r = right.lower()
    if r not in _CONTRACTION_LEFT:
        return False
    allowed = _CONTRACTION_LEFT[r]
    return allowed is None or left.lower() in allowed


def _join_at(sep: str, left: str, right: str, total: int, n_seps: int, last: bool) -> bool:
    """Whether separator ``sep`` between fragments ``left`` and ``right`` was inserted."""
    if len(sep) != 1:
        return False
    n_left, n_right = _letters(left), _letters(right)
    if n_left == 0 or n_right == 0 or total < 3:
        return False
    if sep in "'’":  # not "don't", "we're", "John's", "y'all", "O'Brien"
        if n_seps != 1 or _is_contraction(left, right):
            return False
        name = left in ("O", "D", "L") and right[0].isupper()  # O'Brien, D'Angelo, L'Oreal
        return not (name or f"{left}'{right}".lower() in _APOSTROPHE_WORDS)
    if sep == "-":  # not "well-known", "ex-wife", "mother-in-law"
        if n_seps != 1 or left.lower() in _HYPHEN_PREFIXES:
            return False
        return (
            min(n_left, n_right) <= 2
            or right.lower() in _SUFFIXES
            or (
                right[:2].isalpha()
                and right[0] not in _VOWELS
                and right[1] not in _VOWELS
                and right[:2].lower() not in _ONSETS
            )
        )
    if sep == "*":  # a "*" that masks a vowel sits between consonants: "f*ck", "sh*t"
        return min(n_left, n_right) >= 2 or left[-1] in _VOWELS or right[0] in _VOWELS
    if sep == ".":
        if left[-1].islower() and right[0].isupper() and n_left >= 2:
            return False  # "home.Then", "Mr.Smith": a missing space
        if n_left == 1 and left.isupper() and right[:1].isupper() and right[1:2].islower():
            return False  # "J.Cole": an initial
        if min(n_left, n_right) >= 3 and (
            left.lower() in _FUNCTION_WORDS or right.lower() in _FUNCTION_WORDS
        ):
            return False  # "wrong.but"
        return not (last and right.lower() in _FILE_EXTENSIONS)
    return True


def _is_leet_suffix(piece: str) -> bool:
    """Whether ``piece`` is a word with its last letter written as a digit ("Sh3", "jus7"):
    two or more letters, not all upper case, with a vowel (or "th", "sh", "wh"), then one leet
    digit. Product names usually have no vowel or are upper case ("mp3", "PS4"); "top5" and
    "gta5" are misread."""
    head, digit = piece[:-1], piece[-1]
    return (
        digit in "013457"
        and len(head) >= 2
        and head.isascii()
        and head.isalpha()
        and not head.isupper()
        and (any(ch in "aeiouyAEIOUY" for ch in head) or head.lower() in ("th", "sh", "wh"))
    )


def _word_follows(rest: str) -> bool:
    """Whether ``rest`` (what follows a leading leet run) looks like the rest of a word."""
    n = _letters(rest)
    return n >= 2 or (n == 1 and len(rest) >= 2 and all(ch.isalpha() or ch in _LEET for ch in rest))


def _decode_run(run: str, before: str, after: str) -> str:
    """Letters for a run of leet characters between ``before`` and ``after`` ('' at an end)."""
    out: list[str] = []
    prev = before[-1:].lower() or "^"
    for k, ch in enumerate(run):
        if ch == "1":
            if (k > 0 and run[k - 1] == "1") or (k + 1 < len(run) and run[k + 1] == "1"):
                letter = "l"  # "ki11"
            else:
                nxt = _LEET.get(run[k + 1], "$") if k + 1 < len(run) else after[:1].lower() or "$"
                letter = "l" if prev + nxt in _ONE_IS_L else "i"
        else:
            letter = _LEET[ch]
        out.append(letter)
        prev = letter
    return "".join(out)


def _map_leet(piece: str) -> str:
    """Undo leetspeak inside one token of letters, digits and leet symbols."""
    if _ASCII_LETTER_RE.search(piece) is None:
        return piece
    if _NUMBER_UNIT_RE.fullmatch(piece):
        return piece
    leet_suffix = _is_leet_suffix(piece)
    if not leet_suffix and _LETTERS_THEN_DIGITS_RE.fullmatch(piece):
        return piece
    parts = _RUN_SPLIT_RE.split(piece)  # letters, non-letters, letters, ...; '' at the ends
    if len(parts) == 1:
        return piece
    last = len(parts) - 1
    mapped = list(parts)
    substituted = False
    for i in range(1, last, 2):  # runs of non-letters that are not at the end
        run, before, after = parts[i], parts[i - 1], parts[i + 1]
        if not after or not all(ch in _LEET for ch in run):
            continue
        if before:  # interior: letters on both sides
            if "@" in run and not after[0].islower():
                continue  # "im@USER", "LAME@USER": a mention glued to a word ("b@stard" is not)
            if "!" in run and ((before[-1].islower() and after[0].isupper()) or "!!" in run):
                continue  # "wow!That", "yes!!!no": punctuation
        elif len(run) > 2 or "@" in run or not _word_follows("".join(parts[2:])):
            continue  # leading: one or two characters before a word ("1diot", "0u7")
        elif after[0].isupper() and after[1:2].islower():
            continue  # "1Million", "5Children": a number glued to a word
        elif run == "4" and after.lower() in _FOUR_SHORTHAND:
            continue  # "4ever"
        mapped[i] = _decode_run(run, before, after)
        substituted = True
    trailing = parts[last - 1] if not parts[last] and last >= 2 else ""
    if trailing and parts[last - 2] and all(ch in _LEET for ch in trailing):
        if trailing == "$" and not parts[last - 2][-1].islower():
            return "".join(mapped)  # "US$"
        if trailing[-1] == "!" or piece.lower() in _SHORTHAND:
            return "".join(mapped)  # "wow!" before more punctuation; "be4"
        if substituted or leet_suffix or not trailing.isdigit():  # "h3ll0", "th3", "a$$"
            mapped[last - 1] = _decode_run(trailing, parts[last - 2], "")
    return "".join(mapped)


def _fix_token(match: re.Match[str]) -> str:
    token = match.group()
    start, end = 0, len(token)
    while start < end and (token[start] in _EDGE_CHARS or token.startswith("||", start)):
        if (
            token[start] == "!"
            and token[start + 1 : start + 2].isalpha()
            and "!" not in token[:start]
        ):
            break
        start += 2 if token.startswith("||", start) else 1
    while end > start and (token[end - 1] in _EDGE_CHARS or token.endswith("||", start, end)):
        end -= 2 if token.endswith("||", start, end) else 1
    core = token[start:end]
    if not core:
        return token
    parts = _FRAGMENT_SPLIT_RE.split(core)  # fragment, separator, fragment, ...
    if len(parts) > 1:
        fragments, seps = parts[::2], parts[1::2]
        total = sum(_letters(f) for f in fragments)
        count: dict[str, int] = {}
        for sep in seps:
            key = "'" if sep == "’" else sep
            count[key] = count.get(key, 0) + 1
        out = [fragments[0]]
        for k, sep in enumerate(seps):
            n_same = count["'" if sep == "’" else sep]
            if not _join_at(sep, fragments[k], fragments[k + 1], total, n_same, k == len(seps) - 1):
                out.append(sep)
            out.append(fragments[k + 1])
        core = "".join(out)
    if _LEET_CHAR_RE.search(core) is not None and _NUMBERING_RE.search(core) is None:
        core = _PIECE_RE.sub(lambda m: _map_leet(m.group()), core)
    return token[:start] + core + token[end:]


# --------------------------------------------------------------------------- stage 9
_ASCII_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_RUN3_RE = re.compile(r"([A-Za-z])\1{2,}", re.IGNORECASE)
_ROMAN_NUMERAL_RE = re.compile("[IVXLCDM]+")
# Words whose single-letter form is also a common word are left out, so the run collapses
# to one letter: "gooo" is "go", "buttt" is "but", "hooot" is "hot"; "good", "too", "off",
# "soon" and "ass" are the exceptions that win on frequency.
_DOUBLE_LETTER_WORD_LIST = """
    all allow apple ass asses asshole assholes badass ball balls bass been beer bell belly
    berry better bill bitter bless blood bloody bloom bluff boob boobs book boom boost booty
    boss brass breed brr buddy buff bull bullshit bunny butter butts buzz call carry cell cheek
    cheer cheese chess chill class cliff cool coffee cook crappy creep cross daddy deep deer
    dinner doll door dress drill drool dull dumbass dummy egg err fall fatass feel feels feet
    fell fill flee floor flood fluff food fool foot free full funny fuzz geek
    glass glee good goods goddamn google grass greed green greet grill grr guess hall happy hell
    hello hill hmm hood hurry ill jackass jazz jeep jelly keep kickass kill killed killer kills
    kiss kitten kitty knee less letter little look looks loop loss mall marry mass matter mess
    mill miss mommy moon moss mummy need needs nigga niggas nigger niggers noob noobs null odd
    off pass pee peek peel peep pill piss pissed poll pool poor press pretty puff pull puppy
    pussies pussy queen queer really reel roll roof room school scroll see seed seek seem seems
    seen sell sheep sheet shell shh shitty shoot silly skill skull sleep small smartass smell
    sniff soon sorry speed spell spill spoon staff stall steel steer stiff still stood street
    stress stroll stuff summer sweet swell tall teeth tell three titties titty toll too took
    tool toss totally tree troll trolls tummy tweet umm wall weed week weep well wheel will
    winner wood worry written yell yellow zoo zoom
"""
DOUBLE_LETTER_WORDS = _words(_DOUBLE_LETTER_WORD_LIST)
"""Common words whose double letter is often stretched: ``goood`` -> ``good``, not ``god``."""


def _unstretch(match: re.Match[str]) -> str:
    word = match.group()
    if _RUN3_RE.search(word) is None:
        return word
    lower = word.lower()
    if len(set(lower)) == 1:
        return word  # "zzz", "xxx", "aaaa"
    if word.isupper() and _ROMAN_NUMERAL_RE.fullmatch(word):
        return word  # "VIII"
    doubled = _RUN3_RE.sub(lambda m: m.group()[:2], word)
    if doubled.lower() in DOUBLE_LETTER_WORDS:
        return doubled
    return _RUN3_RE.sub(lambda m: m.group()[0], word)


# --------------------------------------------------------------------------- driver
_WHITESPACE_RE = re.compile(r"\s+")
_SUSPICIOUS_ASCII_RE = re.compile(
    f"[A-Za-z][0-9@$!|{_SEP_CLASS}]|[0-9@$!|{_SEP_CLASS}][A-Za-z]"  # stages 7-8
    r"|[A-Za-z0-9][\s.\-]+[A-Za-z0-9][\s.\-]"  # stage 6
    r"|([A-Za-z])\1\1",  # stage 9
    re.IGNORECASE,
)
_MAX_PASSES = 4


# Cheap necessary conditions (they start with a character class, which the regex engine
# scans for quickly) that gate the costlier stage regexes.
_SPACED_HINT_RE = re.compile(r"[A-Za-z0-9][\s.\-]+[A-Za-z0-9][\s.\-]")
_TOKEN_HINT_RE = re.compile(f"[0-9@$!|€]|[{_SEP_CLASS}](?=[{_WORD_CHARS}])")


def _deobfuscate(text: str) -> str:
    if text.isascii():
        if _SUSPICIOUS_ASCII_RE.search(text) is None:
            return text
    else:
        text = _fold_confusables(text)
    protected = _PROTECTED_RE if _URL_HINT_RE.search(text) is None else _PROTECTED_WITH_URLS_RE
    parts = protected.split(text)
    for i in range(0, len(parts), 2):  # even indices: unprotected text
        part = parts[i]
        if not part:
            continue
        if _SPACED_HINT_RE.search(part) is not None:
            part = _SPACED_PUNCT_RE.sub(_join_spaced_punct, part)
            part = _SPACED_WS_RE.sub(_join_spaced_ws, part)
        if _TOKEN_HINT_RE.search(part) is not None:
            part = _TOKEN_RE.sub(_fix_token, part)
        if _RUN3_RE.search(part) is not None:
            part = _ASCII_WORD_RE.sub(_unstretch, part)
        parts[i] = part
    return "".join(parts)


def _collapse(text: str) -> str:
    return _WHITESPACE_RE.sub(" ", text).strip()


def _prepare(text: str) -> str:
    """Stages 1-3 for non-ASCII text."""
    text = unicodedata.normalize("NFKC", text)
    stripped = _INVISIBLE_RE.sub("", text)
    if not stripped.isascii():
        stripped = stripped.translate(_ALWAYS_FOLD_TABLE)
        removed = 1
        while removed:  # a removal can bring a joiner next to a letter
            stripped, removed = _JOINERS_NEAR_LATIN_RE.subn("", stripped)
        stripped = _STRAY_TAGS_RE.sub("", stripped)
    if stripped != text:  # a removed character may have kept two others from composing
        stripped = unicodedata.normalize("NFKC", stripped)
    return stripped


def _normalize(text: str) -> str:
    if text.isascii():
        if _SUSPICIOUS_ASCII_RE.search(text) is None:
            return _collapse(text)  # fast path: nothing for stages 6-9 to do
    else:
        text = _prepare(text)
    text = text.strip()
    for _ in range(_MAX_PASSES):
        result = _collapse(_deobfuscate(text))
        if not result.isascii():  # new letters may now compose with a mark or touch a joiner
            result = _prepare(result)
        if result == text:
            break
        text = result
    return text


def _baseline(text: str) -> str:
    return _collapse(_INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", text)))


def normalize_text(text: str) -> str:
    """Return the text the classifier sees for ``text`` (see the module docstring).

    Never raises for a ``str``: should a stage fail on some input (a bug), the message is
    still scored, on the baseline normalization (NFKC, invisible characters removed,
    whitespace collapsed), and a warning without the content is logged.
    """
    try:
        return _normalize(text)
    except Exception as exc:
        log.warning(
            "normalize_text failed (%s); scoring this message on the baseline normalization",
            type(exc).__name__,
        )
        return _baseline(text)


def prepare_content(content: str, max_chars: int) -> tuple[str, bool]:
    """What the classifier scores for ``content``: the normalized first ``max_chars``
    characters, and whether the content was longer (scored on its prefix, never dropped)."""
    truncated = len(content) > max_chars
    return normalize_text(content[:max_chars] if truncated else content), truncated
