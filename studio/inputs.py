"""Checks on what a user asks for, shared by the CLI and the UI so both say the same clear thing."""

from __future__ import annotations

from studio.presets import Preset, PresetError
from studio.usage import InputError
from studio.variant import RecipeError, Variant, one_per_recipe

MAX_PROMPT_CHARS = 2000
MAX_VARIANTS = 16
MAX_SEED = 2**31 - 1  # the UI's number box and every generator we target accept this range


def runnable_preset(name: str) -> Preset:
    """The preset, refused before any download when this machine cannot run it (a GPU preset on a CPU machine
    would fetch gigabytes for nothing)."""
    from studio.engine.pool import runnable_here
    from studio.presets import load_preset

    preset = load_preset(name)
    ok, why = runnable_here(preset)
    if not ok:
        raise InputError(why)
    return preset


def check_prompt(preset: Preset, prompt: str | None) -> str:
    """The prompt, stripped; embedded presets also check every word against their language."""
    if prompt is not None and not isinstance(prompt, str):
        raise InputError(f"the prompt must be text, got {type(prompt).__name__}")
    if prompt is None or not prompt.strip():
        raise InputError("the prompt is empty; describe what to generate")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"the prompt has {len(prompt)} characters; at most {MAX_PROMPT_CHARS}")
    if preset.pipeline == "tiny":
        from studio.tiny.language import PromptError, parse_prompt

        try:
            parse_prompt(prompt, video=preset.media == "video")
        except PromptError as e:
            raise InputError(f"prompt: {e}") from None
    return prompt.strip()


# pipelines that take a negative prompt in their classifier-free guidance (FluxPipeline takes one only with true
# CFG, twice the transformer calls of the guidance-distilled run it makes: refused rather than silently ignored)
NEGATIVE_PROMPT_PIPELINES = ("StableDiffusionXLPipeline", "StableDiffusion3Pipeline", "SanaPipeline", "WanPipeline",
                             "LTXConditionPipeline")


def takes_negative_prompt(preset: Preset) -> bool:
    return preset.pipeline in NEGATIVE_PROMPT_PIPELINES


def check_negative_prompt(preset: Preset, text: str | None) -> str | None:
    """The negative prompt, stripped (None when empty); refused for a preset whose pipeline would ignore it."""
    if text is not None and not isinstance(text, str):
        raise InputError(f"the negative prompt must be text, got {type(text).__name__}")
    if text is None or not text.strip():
        return None
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"the negative prompt has {len(text)} characters; at most {MAX_PROMPT_CHARS}")
    if not takes_negative_prompt(preset):
        raise InputError(f"preset '{preset.name}' ({preset.pipeline}) takes no negative prompt; presets whose "
                         f"pipelines do: {', '.join(NEGATIVE_PROMPT_PIPELINES)}")
    return text.strip()


def _whole(value) -> int | None:
    """`value` as a whole number (an int, a float without a fraction, or such a number written as text); None for
    anything else (a bool, a fraction, text that is no number, infinity, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
        return int(number) if number == int(number) else None
    except (ValueError, OverflowError):
        return None


def check_seed(seed) -> int:
    number = _whole(seed)
    if number is None or not 0 <= number <= MAX_SEED:
        raise InputError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return number


MAX_PAGE_REPEATS = 5  # the page's bound: each repeat is a whole round over the chosen variants


def check_repeats(repeats) -> int:
    """Timed runs per variant on the page: a whole number from 1 to MAX_PAGE_REPEATS (empty: 1)."""
    if repeats in (None, ""):
        return 1
    number = _whole(repeats)
    if number is None or not 1 <= number <= MAX_PAGE_REPEATS:
        raise InputError(f"repeats must be a whole number from 1 to {MAX_PAGE_REPEATS}, got {repeats!r}")
    return number


def check_steps(steps) -> int | None:
    """None (the preset's default) or a whole number of steps from 1 to 1000."""
    if steps in (None, "", 0):
        return None
    number = _whole(steps)
    if number is None or not 1 <= number <= 1000:
        raise InputError(f"steps must be a whole number from 1 to 1000 (or empty for the preset's), got {steps!r}")
    return number


def variant_names(ticked: list[str] | str | None, typed: str | None) -> list[str]:
    """The pages' variant choice as one list: the ticked names, then the comma-separated slugs typed beside them.
    An API caller's ticked names may come as one comma-separated text too."""
    if isinstance(ticked, str):
        ticked = ticked.split(",")
    if typed is not None and not isinstance(typed, str):
        raise InputError(f"custom variants must be text (comma-separated slugs), got {type(typed).__name__}")
    names = [*(ticked or []), *(typed or "").split(",")]
    if not all(n is None or isinstance(n, str) for n in names):
        raise InputError(f"variant names must be text, got {[n for n in names if not isinstance(n, str)]!r}")
    return [n.strip() for n in names if n and n.strip()]


def parse_variants(preset: Preset, names: list[str]) -> list[Variant]:
    """Named variants or full slugs, de-duplicated in order (one per recipe: a slug typed beside the name of the same
    recipe runs once, as in a bench); at least one, at most MAX_VARIANTS."""
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise InputError(f"no variants chosen; preset '{preset.name}' defines: {', '.join(preset.variants)}")
    if len(names) > MAX_VARIANTS:
        raise InputError(f"{len(names)} variants chosen; at most {MAX_VARIANTS} per comparison")
    variants = []
    for name in dict.fromkeys(names):
        try:
            variants.append(preset.variant(name))
        except (RecipeError, PresetError) as e:
            raise InputError(str(e)) from None
    return one_per_recipe(variants)
