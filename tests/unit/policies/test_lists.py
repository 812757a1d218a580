"""Keyword and regex lists: RE2 sets, whole words, case-insensitive, file format."""

from __future__ import annotations

from pathlib import Path

from policies.lists import CompiledList, check_entries, list_name, read_list


def compiled(tmp_path: Path, name: str, body: str) -> CompiledList:
    path = tmp_path / name
    path.write_text(body)
    source, problems = read_list(path, name)
    assert source is not None
    assert [p for p in problems if p.level == "error"] == []
    assert list(check_entries(source)) == []
    return CompiledList(source)


def test_keywords_match_whole_words_in_any_case_and_spacing(tmp_path: Path) -> None:
    words = compiled(tmp_path, "w.keywords.txt", "# scams\nfree nitro\n\nprize\nc++ tips\n")
    assert words.matches("Get FREE\tnitro now") == ["free nitro"]
    assert words.matches("surprize party") == []
    assert words.matches("a prize!") == ["prize"]
    assert words.matches("c++ tips inside") == ["c++ tips"]  # metacharacters are literal


def test_regex_lists(tmp_path: Path) -> None:
    links = compiled(
        tmp_path, "l.regex.txt", r"https?://\d{1,3}(\.\d{1,3}){3}/" + "\nDISCORD\\.gift\n"
    )
    assert links.matches("go to http://10.0.0.1/x and discord.GIFT") == [
        r"https?://\d{1,3}(\.\d{1,3}){3}/",
        "DISCORD\\.gift",
    ]
    assert links.matches("nothing") == []


def test_list_file_names() -> None:
    assert list_name(Path("scam_phrases.keywords.txt")) == ("scam_phrases", "keywords")
    assert list_name(Path("x.regex.txt")) == ("x", "regex")
    assert list_name(Path("notes.txt")) is None
    assert list_name(Path("x.glob.txt")) is None


def test_a_thousand_patterns_compile_into_one_set(tmp_path: Path) -> None:
    body = "\n".join(f"https?://site{i}\\.example/[a-z]+\\d{{2,}}" for i in range(1000))
    big = compiled(tmp_path, "many.regex.txt", body)
    assert big.matches("see https://site777.example/promo42") == [
        r"https?://site777\.example/[a-z]+\d{2,}"
    ]
