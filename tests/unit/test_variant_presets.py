import pytest

from studio.presets import PresetError, list_presets, load_preset, parse_preset, preset_path
from studio.variant import CacheSpec, QuantSpec, RecipeError, Variant, WeightsSpec, parse_slug

STUDENT = {"student": WeightsSpec("student", "assets/tiny-image-student")}


def test_slugs_are_short_and_round_trip():
    v = Variant("x", weights=STUDENT["student"], quant=QuantSpec("int8wo"), cache=CacheSpec("teacache", 0.3), steps=4)
    assert v.slug == "student-int8wo-tea0.3-s4"
    back = parse_slug(v.slug, STUDENT)
    assert (back.weights, back.quant, back.cache, back.steps) == (v.weights, v.quant, v.cache, v.steps)
    assert Variant("b").slug == "base"


def test_a_schedule_is_part_of_the_slug_and_sets_the_levels():
    from studio.schedule import schedule_sigmas

    v = Variant("x", weights=STUDENT["student"], steps=4, schedule="uniform", guidance=1.0)
    assert v.slug == "student-s4-uniform-g1"
    assert parse_slug(v.slug, STUDENT) == Variant(v.slug, weights=v.weights, steps=4, schedule="uniform", guidance=1.0)
    assert schedule_sigmas("uniform", 4) == [1.0, 0.75, 0.5, 0.25]  # FluxPipeline's: every call denoises
    assert schedule_sigmas(None, 4) is None  # the pipeline's own default


@pytest.mark.parametrize("variant, kind", [
    (Variant("a"), "baseline"),
    (Variant("a", quant=QuantSpec("int8wo")), "quantized"),
    (Variant("a", cache=CacheSpec("fbc", 0.1)), "cached"),
    (Variant("a", steps=4), "naive"),
    (Variant("a", weights=STUDENT["student"], steps=4), "distilled"),
    (Variant("a", weights=STUDENT["student"], quant=QuantSpec("int8wo"), steps=4), "stacked"),
])
def test_kinds(variant, kind):
    assert variant.kind(default_steps=50) == kind


@pytest.mark.parametrize("make, message", [
    (lambda: CacheSpec("tea", 0.3), "unknown cache 'tea'; known caches: teacache"),
    (lambda: CacheSpec("teacache", 9.0), "out of range"),
    (lambda: CacheSpec("teacache", -1.0), "out of range"),
    (lambda: CacheSpec("taylorseer", 2.5), "must be a int"),
    (lambda: CacheSpec("fbc", None, (("bogus", 1),)), "no parameter 'bogus'"),
    (lambda: QuantSpec("int3"), "unknown quantization"),
    (lambda: Variant("a", steps=0), "steps must be"),
    (lambda: Variant("a", steps=10**6), "steps must be"),
    (lambda: Variant("../x"), "variant name"),
    (lambda: WeightsSpec("lora"), "needs a ref"),
    (lambda: parse_slug("int8wo-banana"), "unknown part 'banana'"),
    (lambda: parse_slug("distilled-s4"), "no 'distilled' weights"),
    (lambda: Variant("a", schedule="cosine"), "schedule must be one of uniform, got 'cosine'"),
])
def test_bad_recipes_fail_with_the_allowed_values(make, message):
    with pytest.raises(RecipeError, match=message):
        make()


def test_every_shipped_preset_loads():
    names = list_presets()
    assert {"tiny-image", "tiny-video", "flux1-dev", "sdxl", "wan21-t2v-1.3b"} <= set(names)
    for name in names:
        preset = load_preset(name)
        assert "baseline" in preset.variants
        assert any(v.kind(preset.steps) == "naive" for v in preset.variants.values())


def test_embedded_presets_define_the_required_variants():
    for name in ("tiny-image", "tiny-video"):
        assert {"baseline", "int8", "teacache", "fbc", "naive4"} <= set(load_preset(name).variants)


@pytest.mark.parametrize("name", ["tiny-image", "tiny-video"])
def test_every_distilled_variant_has_a_naive_one_with_its_steps_and_schedule(name):
    """The contrast the studio exists to show: same step count and levels, base weights, no distillation."""
    preset = load_preset(name)
    naive = {(v.steps, v.schedule) for v in preset.variants.values() if v.kind(preset.steps) == "naive"}
    students = [v for v in preset.variants.values() if v.weights.source == "student"]
    assert students
    for v in students:
        assert (v.steps, v.schedule) in naive, v.name


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "tiny-image/../x", "", "UPPER", "a" * 200,
                                  "nonexistent"])
def test_preset_names_cannot_leave_the_folder(name):
    with pytest.raises(PresetError):
        preset_path(name)


BASE = {"title": "t", "family": "f", "pipeline": "tiny", "source": "assets/tiny-image", "media": "image",
        "steps": 50, "width": 64, "height": 64, "caches": ["fbc"], "quantizations": ["int8wo"]}


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"steps": 0}, "out of range"),
    ({"steps": "fifty"}, "must be int"),
    ({"media": "audio"}, "media must be"),
    ({"dtype": "float8"}, "dtype"),
    ({"cpu_vae_dtype": "float16"}, "cpu_vae_dtype 'float16' unknown; allowed: float32, bfloat16"),
    ({"caches": ["warpcache"]}, "unknown cache"),
    ({"source": "../../etc"}, "leaves the project folder"),
    ({"variants": {"x": {"cache": {"kind": "teacache", "threshold": 0.2}}}}, "does not apply"),
    ({"variants": {"x": {"quant": "int4wo"}}}, "does not apply"),
    ({"variants": {"x": {"speed": 3}}}, "unknown key 'speed'"),
    ({"variants": {"x": {"weights": "distilled"}}}, "not defined"),
    ({"variants": {"x": {"steps": 4, "schedule": "karras"}}}, "schedule must be one of uniform"),
    ({"default_variants": ["int8"]}, "default_variants must name variants this preset defines; unknown: int8"),
    ({"default_variants": []}, "default_variants must name .* it is empty"),
    ({"default_variants": "baseline"}, "'default_variants' must be list"),
])
def test_malformed_presets_are_rejected(change, message):
    with pytest.raises(PresetError, match=message):
        parse_preset({**BASE, **change}, "test")


def test_default_variants_come_from_the_preset_baseline_first():
    preset = parse_preset({**BASE, "variants": {"n4": {"steps": 4}, "int8": {"quant": "int8wo"}},
                           "default_variants": ["n4", "baseline"]}, "test")
    assert preset.default_variants == ("baseline", "n4")
    # none named: the fallback's variants that the preset defines
    assert parse_preset({**BASE, "variants": {"int8": {"quant": "int8wo"}, "n2": {"steps": 2}}},
                        "test").default_variants == ("baseline", "int8")


@pytest.mark.parametrize("name", ["tiny-image", "tiny-video"])
def test_embedded_presets_show_the_student_beside_naive_few_step_at_first(name):
    """The studio's point on the first click: a distilled 4-step student against the base model run for 4 steps."""
    assert {"baseline", "naive4", "distilled"} <= set(load_preset(name).default_variants)


def test_malformed_toml_file_is_rejected(tmp_path):
    (tmp_path / "broken.toml").write_text("title = [unclosed")
    with pytest.raises(PresetError, match="not valid TOML"):
        load_preset("broken", tmp_path)


def test_a_utf16_preset_file_is_told_to_be_saved_as_utf8(tmp_path):
    (tmp_path / "notepad.toml").write_text('extends = "tiny-image"\n', encoding="utf-16")
    with pytest.raises(PresetError, match="notepad.toml is not UTF-8 text .*save it as UTF-8"):
        load_preset("notepad", tmp_path)


def test_preset_variant_accepts_names_and_slugs():
    preset = load_preset("tiny-image")
    assert preset.variant("int8").quant.method == "int8wo"
    assert preset.variant("int8wo-fbc0.2-s20").cache.value == 0.2
    with pytest.raises(PresetError, match="neither a variant"):
        preset.variant("fp9")


def test_a_schedule_needs_a_pipeline_that_takes_sigmas():
    from studio.schedule import check_takes_sigmas

    class NoSigmas:
        def __call__(self, prompt, num_inference_steps=50):
            pass

    with pytest.raises(ValueError, match="sigmas=, which NoSigmas does not take"):
        check_takes_sigmas(NoSigmas(), "uniform")
    check_takes_sigmas(NoSigmas(), None)  # no schedule: nothing to check



def test_a_pasted_page_of_text_is_refused_without_being_echoed_whole():
    with pytest.raises(PresetError) as info:
        load_preset("tiny-image").variant("x" * 5000)
    message = str(info.value)
    assert len(message) < 300 and "5,000 characters" in message and "at most 120" in message
    # the longest slug a preset can build still parses: weights, quantization, region cache with TeaCache, steps
    slug = "student-int8wo-region0.2ws1re2s1-tea0.3-s4-uniform-g1"
    assert load_preset("tiny-image").variant(slug).steps == 4


@pytest.mark.parametrize("name", ["tiny-image", "tiny-video"])
def test_the_variants_listing_keeps_its_columns_for_the_longest_slug(name, capsys):
    from studio.cli import main

    assert main(["variants", "--preset", name]) == 0
    preset = load_preset(name)
    rows = capsys.readouterr().out.splitlines()[:-1]  # the last line explains the '*'
    kind_columns = {row.index(f" {v.kind(preset.steps)} ", len(v.slug)) for row, v in
                    zip(rows, preset.variants.values(), strict=True)}
    assert len(kind_columns) == 1  # every row's kind starts at the same column
