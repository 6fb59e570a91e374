"""A team's own presets: STUDIO_PRESETS_DIR, `extends`, and `presets new` (what is inherited, what is refused)."""

import dataclasses
import re

import pytest

from studio.cli import main
from studio.config import ConfigError, Settings
from studio.presets import PresetError, is_user_preset, list_presets, load_preset, preset_path
from studio.ui.presets_ui import preset_choices

TINY_INDEX = '{"_class_name": "TinyDiffusionPipeline"}'


def _write(folder, name, text):
    (folder / f"{name}.toml").write_text(text)


def test_a_fine_tune_keeps_the_pipeline_recipes_and_leaves_out_the_bases_distilled_weights(presets_dir):
    _write(presets_dir, "our-flux", 'extends = "flux1-dev"\ntitle = "Our FLUX"\nsource = "our-org/flux-ft"\n')
    base, ours = load_preset("flux1-dev"), load_preset("our-flux")
    assert (ours.title, ours.source, ours.pipeline, ours.steps) == ("Our FLUX", "our-org/flux-ft", base.pipeline,
                                                                    base.steps)
    assert ours.caches == base.caches and ours.teacache_coefficients == base.teacache_coefficients
    # the base's revision and download size describe the base's weights; its distilled ones distil the base
    assert ours.revision is None and ours.download_gb == 0.0 and ours.weights == {}
    assert set(ours.variants) == {n for n, v in base.variants.items() if v.weights.source == "base"}
    assert {"distilled", "int8", "naive4"} <= set(base.variants) and "distilled" not in ours.variants
    assert set(ours.notes) <= set(ours.variants) and ours.notes["int8"] == base.notes["int8"]
    assert ours.default_variants == tuple(n for n in base.default_variants if n in ours.variants)
    assert list_presets()[-1] == "our-flux" and is_user_preset("our-flux") and not is_user_preset("flux1-dev")


def test_a_preset_that_only_changes_settings_keeps_everything_else(presets_dir):
    _write(presets_dir, "tiny-fast", 'extends = "tiny-image"\nsteps = 20\n[variants.tea]\ncache = {kind = "teacache", '
                               'threshold = 0.3}\n')
    base, ours = load_preset("tiny-image"), load_preset("tiny-fast")
    assert ours.steps == 20 and ours.weights == base.weights and ours.default_variants == base.default_variants
    assert set(ours.variants) == set(base.variants) | {"tea"} and ours.variants["tea"].slug == "tea0.3"


def test_a_preset_of_yours_can_leave_out_variants_of_its_base(presets_dir):
    base = load_preset("tiny-image")
    _write(presets_dir, "tiny-lean", 'extends = "tiny-image"\ndrop_variants = ["int8", "teacache"]\n')
    _write(presets_dir, "tiny-leaner", 'extends = "tiny-lean"\n')  # a chain keeps them out
    for name in ("tiny-lean", "tiny-leaner"):
        ours = load_preset(name)
        assert set(ours.variants) == set(base.variants) - {"int8", "teacache"}
        assert ours.default_variants == tuple(v for v in base.default_variants if v not in {"int8", "teacache"})
        assert not {"int8", "teacache"} & set(ours.notes)


def test_your_own_few_step_weights_replace_the_bases_and_chains_resolve(presets_dir):
    _write(presets_dir, "our-flux", 'extends = "flux1-dev"\ntitle = "Our FLUX"\nsource = "our-org/flux-ft"\n'
                              '[weights.lora]\nref = "our-org/flux-ft-lora4"\n'
                              '[variants.our-lora]\nweights = "lora"\nsteps = 4\n')
    _write(presets_dir, "our-flux-8", 'extends = "our-flux"\nsteps = 8\n')
    ours = load_preset("our-flux-8")
    assert ours.steps == 8 and ours.weights["lora"].ref == "our-org/flux-ft-lora4"
    assert "our-lora" in ours.variants and "turbo-lora" not in ours.variants  # the base's recipe for its LoRA


def test_a_preset_can_offer_two_weights_of_one_source_by_name(presets_dir):
    # e.g. a 4-step and a 1-step student, or two vendors' distillation LoRAs: each has its own slugs
    _write(presets_dir, "two-students", 'extends = "tiny-image"\n'
                                        '[weights.student1]\nref = "assets/tiny-image-student"\n'
                                        '[variants.one]\nweights = "student1"\nsteps = 1\nguidance = 1.0\n')
    ours = load_preset("two-students")
    one, four = ours.variants["one"], ours.variants["distilled"]
    assert (one.weights.source, one.weights.tag, one.slug) == ("student", "student1", "student1-s1-g1")
    assert four.weights.tag == "student" and four.weights != one.weights  # two weights, loaded apart
    assert ours.variant("student1-s1-g1") == dataclasses.replace(one, name="student1-s1-g1")
    assert ours.variant("student1-int8wo-s2").weights == one.weights  # the variant builder's stacks read them too
    with pytest.raises(PresetError, match="no 'student2' weights; known weights: student, student1"):
        ours.variant("student2-s1")


@pytest.mark.parametrize("files, message", [
    ({"a": 'extends = "b"\n', "b": 'extends = "a"\n'}, "'extends' loops \\(a → b → a\\)"),
    ({"a": "extends = 3\n"}, "'extends' must be a preset name"),
    ({"a": 'extends = "nope"\n'}, "unknown preset 'nope'"),
    ({"a": 'extends = "tiny-image"\nsteps = "many"\n'}, "'steps' must be int"),
    ({"a": 'extends = "tiny-image"\nsource = "relative/../../x"\n'}, "leaves the project folder"),
    ({"a": 'extends = "tiny-image"\ndrop_variants = ["int9"]\n'},
     "preset 'a': 'drop_variants' names 'int9', not a variant of the preset it extends; its variants: .*int8"),
    ({"a": 'extends = "tiny-image"\ndrop_variants = ["baseline"]\n'}, "cannot drop the baseline"),
    ({"a": 'extends = "tiny-image"\ndrop_variants = "int8"\n'}, "must be a list of variant names"),
    ({"a": 'extends = "tiny-image"\n[weights.tea1]\nref = "assets/tiny-image-student"\n'},
     "weights 'tea1' must be named distilled, lora, student, or one of them followed by"),
    ({"a": 'extends = "tiny-image"\n[weights.student-b]\nref = "assets/tiny-image-student"\n'},
     "weights 'student-b' must be named"),
    ({"a": 'extends = "tiny-image"\n[weights.student1]\nsource = "lora"\nref = "x/y"\n'},
     "weights 'student1' are 'student' weights by their name, but say source = 'lora'"),
])
def test_broken_presets_of_yours_are_refused_with_the_reason(presets_dir, files, message):
    for name, text in files.items():
        _write(presets_dir, name, text)
    with pytest.raises(PresetError, match=message):
        load_preset("a")
    with pytest.raises(ConfigError, match="STUDIO_PRESETS_DIR: .*" + message):  # the app refuses to start on it
        Settings.from_env({"STUDIO_PRESETS_DIR": str(presets_dir)}, check_presets=True)


def test_a_name_of_yours_that_a_shipped_preset_has_is_refused(presets_dir):
    _write(presets_dir, "sdxl", 'extends = "tiny-image"\n')
    with pytest.raises(PresetError, match="both a shipped preset and a file in STUDIO_PRESETS_DIR; rename"):
        preset_path("sdxl")
    with pytest.raises(ConfigError, match="'sdxl' is both a shipped preset"):
        Settings.from_env({"STUDIO_PRESETS_DIR": str(presets_dir)}, check_presets=True)


def test_a_presets_folder_that_is_not_a_folder_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="STUDIO_PRESETS_DIR: '.*nowhere' is not a folder"):
        Settings.from_env({"STUDIO_PRESETS_DIR": str(tmp_path / "nowhere")})
    settings = Settings.from_env({"STUDIO_PRESETS_DIR": str(tmp_path), "STUDIO_DEFAULT_PRESET": "tiny-image"})
    assert settings.presets_dir == tmp_path.resolve() and settings.public_dict()["presets_dir"] == str(tmp_path)


def test_the_page_lists_yours_after_the_embedded_ones_with_what_they_need(presets_dir):
    _write(presets_dir, "our-flux", 'extends = "flux1-dev"\ntitle = "Our FLUX"\nsource = "our-org/flux-ft"\n')
    _write(presets_dir, "our-tiny", 'extends = "tiny-image"\ntitle = "Our tiny"\n')
    choices = preset_choices()
    assert [name for _, name in choices][:4] == ["tiny-image", "tiny-video", "our-flux", "our-tiny"]
    labels = dict((name, label) for label, name in choices)
    assert labels["our-flux"] == "Our FLUX — yours — needs a GPU" and labels["our-tiny"] == "Our tiny — yours"
    assert labels["sdxl"].endswith("— needs a GPU") and "yours" not in labels["sdxl"]
    from studio.ui.app import describe_preset

    assert "One of your presets (`our-flux.toml` in STUDIO_PRESETS_DIR): the model at `our-org/flux-ft`." in \
        describe_preset("our-flux")[0]
    _write(presets_dir, "our-local", f'extends = "tiny-image"\nsource = "{presets_dir}"\n')
    info = describe_preset("our-local")[0]
    assert "the model at a local folder" in info and str(presets_dir) not in info  # no server paths on a public page
    assert "One of your presets" not in describe_preset("tiny-image")[0]


def test_presets_new_writes_a_preset_that_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STUDIO_PRESETS_DIR", raising=False)
    folder = tmp_path / "mine"
    assert main(["presets", "new", "our-flux", "--from", "flux1-dev", "--source", "our-org/flux-ft",
                 "--revision", "0123abc", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "left out: distilled, turbo-lora, stack" in out and f"export STUDIO_PRESETS_DIR={folder}" in out
    monkeypatch.setenv("STUDIO_PRESETS_DIR", str(folder))
    ours = load_preset("our-flux")
    assert (ours.source, ours.revision, ours.pipeline) == ("our-org/flux-ft", "0123abc", "FluxPipeline")
    assert main(["presets"]) == 0
    assert "our-flux                 image FLUX.1 [dev]: our-org/flux-ft (yours)" in capsys.readouterr().out


def test_presets_new_takes_a_saved_pipeline_folder_of_the_bases_class(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STUDIO_PRESETS_DIR", str(tmp_path))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(TINY_INDEX)
    assert main(["presets", "new", "our-tiny", "--from", "tiny-image", "--source", str(model)]) == 0
    assert load_preset("our-tiny").local_path() == model
    assert "export" not in capsys.readouterr().out  # already where STUDIO_PRESETS_DIR points


@pytest.mark.parametrize("argv, message", [
    (["x", "--from", "sdxl", "--source", "{model}"],
     "holds a TinyDiffusionPipeline, and preset 'sdxl' runs a StableDiffusionXLPipeline; extend one that runs a "
     "TinyDiffusionPipeline \\(tiny-image, tiny-video"),
    (["x", "--from", "tiny-image", "--source", "{tmp}"], "holds no model_index.json"),
    (["x", "--from", "tiny-image", "--source", "./models/mine"], "neither a Hub id \\(org/name\\) nor an absolute"),
    (["x", "--from", "nope", "--source", "a/b"], "unknown preset 'nope'"),
    (["sdxl", "--from", "sdxl", "--source", "a/b"], "'sdxl' is a shipped preset's name"),
    (["Bad Name", "--from", "sdxl", "--source", "a/b"], "invalid preset name"),
    (["x", "--from", "sdxl", "--source", "a/b", "--revision", " "], "--revision is empty"),
    (["taken", "--from", "sdxl", "--source", "a/b"], "taken.toml exists; pass --force"),
    (["x", "--from", "sdxl", "--source", "a/b", "--title", "two\nlines"], "--title must be 1 to 120 printable"),
    (["x", "--from", "sdxl"], "the following arguments are required: --source"),
])
def test_presets_new_refuses_bad_input_and_writes_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("STUDIO_PRESETS_DIR", str(tmp_path))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(TINY_INDEX)
    (tmp_path / "taken.toml").write_text('extends = "tiny-image"\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.replace("{model}", str(model)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["presets", "new", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "taken.toml").read_text() == 'extends = "tiny-image"\n'


def test_presets_new_needs_to_know_where_to_write(capsys, monkeypatch):
    monkeypatch.delenv("STUDIO_PRESETS_DIR", raising=False)
    assert main(["presets", "new", "x", "--from", "sdxl", "--source", "a/b"]) == 2
    assert "say where to write the preset: --dir FOLDER" in capsys.readouterr().err


def test_a_preset_of_yours_added_while_the_app_runs_is_listed_at_the_next_page_load(presets_dir, caplog):
    from studio.ui.app import open_setup

    def listed() -> list[str]:
        return [name for _, name in open_setup("tiny-image")[0]["choices"]]

    before = listed()
    assert "our-tiny" not in before
    _write(presets_dir, "our-tiny", 'extends = "tiny-image"\ntitle = "Our tiny"\n')
    # a broken file written meanwhile is left out of the list (and logged), not a broken page
    _write(presets_dir, "our-broken", 'extends = "tiny-image"\nsteps = "many"\n')
    with caplog.at_level("WARNING", logger="studio"):
        after = listed()
    assert after == [*before[:2], "our-tiny", *before[2:]]  # after the embedded ones, as at the start
    assert "our-broken" not in after
    assert "our-broken: not listed: " in caplog.text and "'steps' must be int" in caplog.text


def test_a_preset_of_yours_broken_while_the_app_runs_stops_no_other_presets_run(presets_dir):
    from studio.engine import pool

    _write(presets_dir, "our-tiny", 'extends = "tiny-image"\ntitle = "Our tiny"\n')
    _write(presets_dir, "our-broken", 'extends = "tiny-image"\nsteps = "many"\n')  # written after the start
    with pytest.raises(ConfigError, match="our-broken"):  # a start would stop on it
        Settings.from_env(check_presets=True)
    assert Settings.from_env().presets_dir == presets_dir.resolve()  # settings read while running do not
    try:
        assert pool.engine_for("our-tiny").preset.name == "our-tiny"  # a run's engine is made as before
    finally:
        pool._engines.pop("our-tiny", None)
