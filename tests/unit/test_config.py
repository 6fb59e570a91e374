"""Settings.from_env: defaults, every variable's parsing, and one clear error per bad value."""

import dataclasses
from pathlib import Path

import pytest

from studio.config import ConfigError, Settings
from studio.presets import list_presets


def test_defaults_from_an_empty_environment(tmp_path):
    s = Settings.from_env({"HOME": str(tmp_path)})
    assert s.default_preset == "tiny-image"
    assert (s.host, s.port, s.concurrency, s.memory_budget_gb, s.offline) == ("127.0.0.1", 7860, 1, None, False)
    assert s.cache_dir == tmp_path / ".cache" / "speedup-studio"
    assert s.hf_home == tmp_path / ".cache" / "huggingface"
    assert s.hub_cache == tmp_path / ".cache" / "huggingface" / "hub"
    assert s.spotcheck_db == tmp_path / ".cache" / "speedup-studio" / "spotcheck.sqlite3"
    assert s.runs_dir == Path(__file__).resolve().parents[2] / ".runs"
    assert s.hf_token is None and not s.on_spaces
    assert s.session_capacity == 200
    assert s.cpu_bf16 is None and s.public_dict()["cpu_bf16"] == "auto"
    assert s.cpu_threads is None and s.prewarm is True


def test_settings_are_frozen(tmp_path):
    s = Settings.from_env({"HOME": str(tmp_path)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1


def test_every_variable_is_read(tmp_path):
    preset = [p for p in list_presets() if p != "tiny-image"][0]
    env = {
        "STUDIO_DEFAULT_PRESET": preset, "STUDIO_MEMORY_BUDGET_GB": "40.5", "STUDIO_HOST": "0.0.0.0",
        "STUDIO_PORT": "8080", "STUDIO_CACHE_DIR": str(tmp_path / "c"), "HF_HOME": str(tmp_path / "hf"),
        "STUDIO_CONCURRENCY": "2", "STUDIO_SPOTCHECK_DB": str(tmp_path / "votes.db"), "STUDIO_OFFLINE": "yes",
        "HF_TOKEN": " hf_secret ", "STUDIO_SESSION_CAPACITY": "25", "STUDIO_CPU_BF16": "off",
        "STUDIO_CPU_THREADS": "3", "STUDIO_PREWARM": "no", "STUDIO_RUNS_DIR": str(tmp_path / "runs"),
    }
    s = Settings.from_env(env)
    assert (s.default_preset, s.memory_budget_gb, s.host, s.port) == (preset, 40.5, "0.0.0.0", 8080)
    assert s.cache_dir == tmp_path / "c" and s.spotcheck_db == tmp_path / "votes.db"
    assert s.hf_home == tmp_path / "hf" and s.hub_cache == tmp_path / "hf" / "hub"
    assert (s.concurrency, s.offline, s.hf_token, s.session_capacity) == (2, True, "hf_secret", 25)
    assert s.cpu_bf16 is False and s.public_dict()["cpu_bf16"] is False
    assert (s.cpu_threads, s.prewarm) == (3, False) and s.runs_dir == tmp_path / "runs"


def test_token_never_appears_in_repr_or_public_dict(tmp_path):
    s = Settings.from_env({"HOME": str(tmp_path), "HF_TOKEN": "hf_secret_value"})
    assert "hf_secret_value" not in repr(s)
    assert "hf_secret_value" not in str(s.public_dict())
    assert s.public_dict()["hf_token_set"] is True


def test_hub_cache_precedence(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert Settings.from_env(env).hub_cache == tmp_path / "xdg" / "huggingface" / "hub"
    assert Settings.from_env(env).spotcheck_db == tmp_path / "xdg" / "speedup-studio" / "spotcheck.sqlite3"
    env["HF_HUB_CACHE"] = str(tmp_path / "hub")
    assert Settings.from_env(env).hub_cache == tmp_path / "hub"


def test_gradio_variables_are_honoured_and_studio_ones_win(tmp_path):
    env = {"HOME": str(tmp_path), "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}
    s = Settings.from_env(env)
    assert (s.host, s.port) == ("0.0.0.0", 7861)
    s = Settings.from_env({**env, "STUDIO_HOST": "127.0.0.1", "STUDIO_PORT": "9000"})
    assert (s.host, s.port) == ("127.0.0.1", 9000)


def test_on_a_space_the_default_host_is_all_interfaces(tmp_path):
    s = Settings.from_env({"HOME": str(tmp_path), "SPACE_ID": "someone/speedup-studio"})
    assert s.on_spaces and s.host == "0.0.0.0"


@pytest.mark.parametrize("name", ["STUDIO_OFFLINE", "HF_HUB_OFFLINE"])
@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False)])
def test_offline_flags(tmp_path, name, value, expected):
    assert Settings.from_env({"HOME": str(tmp_path), name: value}).offline is expected


def test_studio_cache_dir_matches_the_metrics_weights_rule(tmp_path, monkeypatch):
    from studio.metrics.weights import cache_dir

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "studio-cache"))
    assert Settings.from_env().cache_dir == cache_dir()


@pytest.mark.parametrize("env, words", [
    ({"STUDIO_PORT": "http"}, ["STUDIO_PORT='http'", "not an integer", "1 to 65535"]),
    ({"STUDIO_PORT": "70000"}, ["STUDIO_PORT=70000", "out of range", "1 to 65535"]),
    ({"GRADIO_SERVER_PORT": "0"}, ["GRADIO_SERVER_PORT=0", "1 to 65535"]),
    ({"STUDIO_CONCURRENCY": "0"}, ["STUDIO_CONCURRENCY=0", "1 to 16"]),
    ({"STUDIO_SESSION_CAPACITY": "0"}, ["STUDIO_SESSION_CAPACITY=0", "1 to 10000"]),
    ({"STUDIO_SESSION_CAPACITY": "lots"}, ["STUDIO_SESSION_CAPACITY='lots'", "not an integer"]),
    ({"STUDIO_MEMORY_BUDGET_GB": "-3"}, ["STUDIO_MEMORY_BUDGET_GB='-3'", "greater than 0"]),
    ({"STUDIO_MEMORY_BUDGET_GB": "lots"}, ["STUDIO_MEMORY_BUDGET_GB='lots'", "number of GB"]),
    ({"STUDIO_MEMORY_BUDGET_GB": "nan"}, ["STUDIO_MEMORY_BUDGET_GB='nan'"]),
    ({"STUDIO_OFFLINE": "maybe"}, ["STUDIO_OFFLINE='maybe'", "1/true/yes/on"]),
    ({"HF_HUB_OFFLINE": "2"}, ["HF_HUB_OFFLINE='2'", "0/false/no/off"]),
    ({"STUDIO_CPU_BF16": "auto"}, ["STUDIO_CPU_BF16='auto'", "1/true/yes/on"]),
    ({"STUDIO_HOST": "my host"}, ["STUDIO_HOST='my host'", "0.0.0.0"]),
    ({"STUDIO_CPU_THREADS": "two"}, ["STUDIO_CPU_THREADS='two'", "not an integer", "1 to 1024"]),
    ({"STUDIO_CPU_THREADS": "0"}, ["STUDIO_CPU_THREADS=0", "out of range", "1 to 1024"]),
    ({"STUDIO_PREWARM": "later"}, ["STUDIO_PREWARM='later'", "0/false/no/off"]),
    ({"STUDIO_DEFAULT_PRESET": "../etc"}, ["STUDIO_DEFAULT_PRESET", "no paths", "tiny-image"]),
    ({"STUDIO_DEFAULT_PRESET": "nope"}, ["STUDIO_DEFAULT_PRESET", "unknown preset 'nope'", "tiny-image"]),
])
def test_bad_values_raise_one_clear_error(tmp_path, env, words):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"HOME": str(tmp_path), **env})
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_cache_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="STUDIO_CACHE_DIR=.* exists and is not a folder"):
        Settings.from_env({"HOME": str(tmp_path), "STUDIO_CACHE_DIR": str(tmp_path / "file")})
    with pytest.raises(ConfigError, match="STUDIO_SPOTCHECK_DB=.* is a folder"):
        Settings.from_env({"HOME": str(tmp_path), "STUDIO_SPOTCHECK_DB": str(tmp_path)})


def test_home_expansion(tmp_path):
    s = Settings.from_env({"HOME": str(tmp_path), "STUDIO_CACHE_DIR": "~/x"})
    assert s.cache_dir == Path("~/x").expanduser()


def test_votes_and_benches_go_to_a_spaces_persistent_storage_when_it_is_attached(tmp_path, monkeypatch):
    import studio.spotcheck.store as store
    import studio.storage as storage

    data = tmp_path / "data"
    monkeypatch.setattr(storage, "SPACES_PERSISTENT_DIR", data)
    space = {"HOME": str(tmp_path), "SPACE_ID": "me/studio"}
    default = tmp_path / ".cache" / "speedup-studio" / "spotcheck.sqlite3"
    assert Settings.from_env(space).spotcheck_db == default  # no storage attached: lost at a restart, but works
    data.mkdir()
    assert Settings.from_env(space).spotcheck_db == data / "speedup-studio" / "spotcheck.sqlite3"
    assert Settings.from_env(space).runs_dir == data / "speedup-studio" / "runs"  # the app's benches too
    assert Settings.from_env({"HOME": str(tmp_path)}).spotcheck_db == default  # not a Space: never /data
    given = {**space, "STUDIO_SPOTCHECK_DB": str(tmp_path / "mine.sqlite3")}
    assert Settings.from_env(given).spotcheck_db == tmp_path / "mine.sqlite3"  # the variable always wins
    assert store.default_db_path(space) == data / "speedup-studio" / "spotcheck.sqlite3"  # the CLI's default too


def test_folders_the_app_cannot_write_are_named_with_their_variable(tmp_path):
    """Checked at the start: else benches and kept comparisons finish and their records vanish unseen."""
    (tmp_path / "a-file").write_text("x")
    blocked = Settings.from_env({"HOME": str(tmp_path), "STUDIO_RUNS_DIR": str(tmp_path / "a-file" / "runs"),
                                 "STUDIO_SPOTCHECK_DB": str(tmp_path / "a-file" / "votes.db")})
    problems = blocked.storage_problems()
    assert [p.split(":")[0] for p in problems] == ["STUDIO_RUNS_DIR", "STUDIO_SPOTCHECK_DB"]
    assert "is a file, not a folder" in problems[0] and "(it exists and is not a folder)" in problems[1]
    fine = Settings.from_env({"HOME": str(tmp_path), "STUDIO_RUNS_DIR": str(tmp_path / "new" / "runs"),
                              "STUDIO_SPOTCHECK_DB": str(tmp_path / "votes" / "v.db")})
    assert fine.storage_problems() == []
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == [tmp_path / "a-file"]  # nothing left
