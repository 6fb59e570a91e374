"""Prompt sets: built-in sets, the three file formats, and every kind of bad file, each with a clear message."""

import json

import pytest

from studio.bench import prompts as P
from studio.bench.plan import PlanError, resolve_prompts
from studio.bench.prompts import PromptFileError, builtin_prompt_set, load_prompt_file, validate_for_preset
from studio.presets import load_preset


@pytest.fixture(scope="module")
def image():
    return load_preset("tiny-image")


def _write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def test_builtin_held_out_set_is_fixed_and_seeded(image):
    a, b = builtin_prompt_set(image, "held-out", 12), builtin_prompt_set(image, "held-out", 5)
    assert len(a.prompts) == 12 and [p.prompt for p in a.prompts[:5]] == [p.prompt for p in b.prompts]
    assert len({p.prompt for p in a.prompts}) == 12
    seeds = [p.seed for p in a.prompts]
    assert seeds == list(range(seeds[0], seeds[0] + 12))  # one fixed seed per prompt, recorded
    validate_for_preset(a, image)  # every built-in prompt is inside the tiny language
    video_preset = load_preset("tiny-video")
    video = builtin_prompt_set(video_preset, "held-out", 3)
    assert len(video.prompts) == 3
    validate_for_preset(video, video_preset)


def test_builtin_set_errors(image):
    with pytest.raises(PromptFileError, match="unknown prompt set 'nope'.*held-out, examples"):
        builtin_prompt_set(image, "nope")
    with pytest.raises(PromptFileError, match="no built-in prompt sets"):
        resolve_prompts(load_preset("flux1-dev"))
    with pytest.raises(PlanError, match="not both"):
        resolve_prompts(image, prompts="x.txt", prompt_set="held-out")


def test_txt_file_skips_blank_lines_and_numbers_seeds(tmp_path):
    path = _write(tmp_path, "p.txt", "a red circle\n\n  a blue   square at the left \r\na green triangle\n")
    s = load_prompt_file(path, base_seed=100)
    assert [p.prompt for p in s.prompts] == ["a red circle", "a blue square at the left", "a green triangle"]
    assert [p.seed for p in s.prompts] == [100, 101, 102] and [p.line for p in s.prompts] == [1, 3, 4]


def test_csv_with_prompt_and_optional_seed_columns(tmp_path):
    path = _write(tmp_path, "p.csv", 'id,Prompt,seed\n1,"a red circle, large",7\n2,a blue square,\n')
    s = load_prompt_file(path, base_seed=50)
    assert [(p.prompt, p.seed) for p in s.prompts] == [("a red circle, large", 7), ("a blue square", 51)]
    tsv = load_prompt_file(_write(tmp_path, "p.tsv", "prompt\tseed\na red circle\t3\n"))
    assert tsv.prompts[0].seed == 3


def test_jsonl_with_seed(tmp_path):
    path = _write(tmp_path, "p.jsonl", '{"prompt": "a red circle", "seed": 9}\n\n{"prompt": "a blue square"}\n')
    s = load_prompt_file(path)
    assert [(p.prompt, p.seed, p.line) for p in s.prompts] == [("a red circle", 9, 1), ("a blue square", 1, 3)]


def test_utf8_bom_is_accepted(tmp_path):
    s = load_prompt_file(_write(tmp_path, "p.txt", "\ufeffa red circle\n".encode()))
    assert s.prompts[0].prompt == "a red circle"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read(tmp_path, encoding):
    """Windows Notepad saves "Unicode" as UTF-16 with a BOM; it was refused as binary (its NUL bytes)."""
    text = "prompt,seed\na red circle,3\n"
    data = text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    s = load_prompt_file(_write(tmp_path, "p.csv", data))
    assert [(p.prompt, p.seed) for p in s.prompts] == [("a red circle", 3)]


@pytest.mark.parametrize("name, content, message", [
    ("bin.txt", b"a red circle\n\x00\x01\x02\xff", "looks binary"),
    ("half.txt", b"\xff\xfea\x00\x00\xd8", "starts as UTF-16 text but does not decode as it"),
    ("empty.txt", b"", "empty"),
    ("blank.txt", "\n  \n\n", "no prompts found"),
    ("latin1.txt", "a red circle\ncaf\xe9 au lait\n".encode("latin-1"), "line 2: not valid UTF-8"),
    ("many.txt", "a red circle\n" * 100_000, "100,000 lines; at most 5,000"),
    ("long.txt", "a red circle\n" + "x" * 2001 + "\n", "line 2: 2,001 characters"),
    ("nocol.csv", "text,seed\na red circle,1\n", "line 1: no 'prompt' column; the header has: text, seed"),
    ("badseed.csv", "prompt,seed\na red circle,1\na blue square,abc\n", "line 3: seed 'abc' must be an integer"),
    ("emptyprompt.csv", "prompt,seed\n,4\n", "line 2: the prompt is empty"),
    ("bad.jsonl", '{"prompt": "a"}\n{"prompt": "b",\n', "line 2: not valid JSON"),
    ("nofield.jsonl", '{"text": "a red circle"}\n', 'line 1: needs an object with a "prompt" field'),
    ("negseed.jsonl", '{"prompt": "a", "seed": -1}\n', "line 1: seed -1 must be an integer"),
    ("p.docx", "a red circle\n", "unsupported type '.docx'"),
])
def test_bad_files_fail_with_a_clear_message(tmp_path, name, content, message):
    path = _write(tmp_path, name, content)
    with pytest.raises(PromptFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_prompt_file(path)


def test_huge_file_is_refused_before_reading(tmp_path, monkeypatch):
    path = _write(tmp_path, "huge.txt", "a red circle\n" * 1000)
    monkeypatch.setattr(P, "MAX_FILE_BYTES", 1000)
    with pytest.raises(PromptFileError, match="huge.txt: 13,000 bytes; at most 1,000 bytes"):
        load_prompt_file(path)
    with pytest.raises(PromptFileError, match="does not exist"):
        load_prompt_file(tmp_path / "missing.txt")
    with pytest.raises(PromptFileError, match="does not exist"):  # not "unsupported type": the path is the mistake
        load_prompt_file(tmp_path / "missing")


def test_embedded_presets_check_the_language_naming_the_line(tmp_path, image):
    path = _write(tmp_path, "p.txt", "a red circle\n\na purple elephant at the left\n")
    with pytest.raises(PromptFileError, match=r"p.txt line 3 .*unknown word\(s\) 'elephant'"):
        validate_for_preset(load_prompt_file(path), image)
    validate_for_preset(load_prompt_file(path), load_preset("flux1-dev"))  # real models take any text


def test_count_takes_the_first_prompts(tmp_path, image):
    path = _write(tmp_path, "p.jsonl", "\n".join(json.dumps({"prompt": f"a red circle{' ' * i}"}) for i in range(5)))
    assert len(resolve_prompts(image, prompts=path, count=2).prompts) == 2
    with pytest.raises(PromptFileError, match="count must be from 1 to 5000"):
        resolve_prompts(image, prompts=path, count=0)


def test_hub_dataset_is_refused_offline_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PromptFileError, match="HF_HUB_OFFLINE is set"):
        P.load_hub_prompts("nateraw/parti-prompts")
    with pytest.raises(PromptFileError, match="not a Hub dataset id"):
        P.load_hub_prompts("../etc/passwd")
