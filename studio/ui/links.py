"""Links to the page: the app's own address, and Compare setups shared as a link.

A setup link (`?preset=tiny-video&prompt=…&seed=3&variants=baseline,distilled`) opens the Compare page with those
inputs filled in, so a team looks at exactly what a colleague compared; it never runs anything by itself (the
receiver presses Generate). What a link gets wrong is left out and said, never guessed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from studio.inputs import (
    MAX_PAGE_REPEATS,
    MAX_PROMPT_CHARS,
    MAX_VARIANTS,
    InputError,
    check_negative_prompt,
    check_prompt,
    check_repeats,
    check_seed,
    check_steps,
    parse_variants,
    variant_names,
)
from studio.presets import Preset, PresetError, load_preset
from studio.sizes import default_size, parse_size
from studio.variant import RecipeError, UnknownSlugPart, parse_slug

SETUP_KEYS = ("preset", "prompt", "seed", "steps", "repeats", "variants", "size", "negative")


def base_url(request) -> str:
    """The app's address as the browser reached it (behind a proxy: the forwarded host); "" when unknown."""
    if request is None:
        return ""
    headers = getattr(request, "headers", {}) or {}
    host = headers.get("x-forwarded-host") or headers.get("host")
    proto = headers.get("x-forwarded-proto") or getattr(getattr(request, "url", None), "scheme", "http")
    return f"{proto}://{host}/" if host else ""


@dataclass(frozen=True)
class Setup:
    """Compare inputs: a preset, and what a link set of the rest (None: the preset's own)."""

    preset: str
    prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    variants: tuple[str, ...] | None = None  # named variants and slugs, in order
    repeats: int | None = None
    problems: tuple[str, ...] = field(default=())  # what was left out of a link, and why
    size: str | None = None  # "WxH" / "WxHxF" (studio.sizes); None: the preset's own
    negative_prompt: str | None = None

    def chosen_and_custom(self, named: Collection[str]) -> tuple[list[str], str]:
        """Split the variants into the preset's named ones (ticked) and slugs (the custom field)."""
        variants = self.variants or ()
        return [v for v in variants if v in named], ", ".join(v for v in variants if v not in named)


def validated_setup(preset: str | Preset, prompt: str, seed, steps, chosen, custom, repeats=1, size=None,
                    negative=None) -> Setup:
    """The page's inputs as a Setup, checked as a run checks them (raises InputError or PresetError); `preset` by
    name, or already loaded."""
    p = preset if isinstance(preset, Preset) else load_preset(preset)
    variants = parse_variants(p, variant_names(chosen, custom))
    return Setup(p.name, check_prompt(p, prompt), check_seed(seed), check_steps(steps),
                 tuple(v.name for v in variants), repeats=check_repeats(repeats), size=_own_size(p, size),
                 negative_prompt=check_negative_prompt(p, negative))


def _own_size(preset, text) -> str | None:
    """`text` checked and written as studio.sizes writes it; None when it is empty or the preset's own size."""
    size = parse_size(preset, text)
    return None if size is None or str(size) == default_size(preset) else str(size)


def report_size(report: dict) -> str | None:
    """A finished comparison's size as a Setup holds it: None when it is its preset's own (or when the preset is
    no longer there to say which size that is)."""
    try:
        return _own_size(load_preset(report["preset"]), report.get("size"))
    except (PresetError, InputError):
        return None


def setup_link(setup: Setup, base: str = "") -> str:
    """The address that opens the Compare page with `setup` filled in."""
    params = {"preset": setup.preset, "prompt": setup.prompt, "seed": setup.seed, "steps": setup.steps,
              "repeats": setup.repeats if setup.repeats and setup.repeats > 1 else None,
              "variants": ",".join(setup.variants) if setup.variants else None, "size": setup.size,
              "negative": setup.negative_prompt}
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base.split('?')[0].split('#')[0]}?{query}"


def setup_command(setup: Setup) -> str:
    """The same comparison from the command line (`python -m studio compare`)."""
    parts = ["python", "-m", "studio", "compare", "--preset", setup.preset, "--prompt", setup.prompt or "",
             "--seed", str(setup.seed or 0)]
    if setup.negative_prompt:
        parts += ["--negative-prompt", setup.negative_prompt]
    if setup.steps:
        parts += ["--steps", str(setup.steps)]
    if setup.size:
        parts += ["--size", setup.size]
    if setup.repeats and setup.repeats > 1:
        parts += ["--repeats", str(setup.repeats)]
    if setup.variants:
        parts += ["--variants", ",".join(setup.variants)]
    return shlex.join(parts)


def code_block(text: str) -> str:
    """`text` as a Markdown code block whose fence is longer than any run of backticks in it (a prompt may hold
    some), so the text cannot close the block early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def read_setup(params: Mapping, default_preset: str) -> Setup | None:
    """The setup a link asks for (None: the address has none of SETUP_KEYS); each bad part is left out and named
    in `problems` with what is allowed, and the rest is kept."""
    if not any(key in params for key in SETUP_KEYS):
        return None
    problems = []
    name = str(params.get("preset") or default_preset)
    try:
        preset = load_preset(name)
    except PresetError as e:
        problems.append(f"preset: {e}")
        preset = load_preset(default_preset)
    prompt = params.get("prompt")
    if prompt is not None and not (0 < len(prompt.strip()) <= MAX_PROMPT_CHARS):
        problems.append(f"prompt: it must have 1 to {MAX_PROMPT_CHARS} characters")
        prompt = None
    seed = steps = repeats = None
    try:
        seed = check_seed(params["seed"]) if "seed" in params else None
    except (InputError, ValueError):
        problems.append(f"seed: {params['seed']!r} is not a whole number from 0 to 2^31-1")
    try:
        steps = check_steps(params["steps"]) if "steps" in params else None
    except (InputError, ValueError):
        problems.append(f"steps: {params['steps']!r} is not a whole number from 1 to 1000")
    try:
        repeats = check_repeats(params["repeats"]) if "repeats" in params else None
    except (InputError, ValueError):
        problems.append(f"repeats: {params['repeats']!r} is not a whole number from 1 to {MAX_PAGE_REPEATS}")
    variants = None
    if "variants" in params:
        kept, unknown = [], []
        for v in dict.fromkeys(variant_names([], str(params["variants"]))):
            try:
                parse_variants(preset, [v])
                kept.append(v)
            except InputError as e:
                if _is_recipe(preset, v):  # a recipe this preset cannot run here: its own reason
                    problems.append(f"variant: {e}")
                else:  # unknown names: listed once, with the preset's variants, not a slug lesson each
                    unknown.append(v)
        if unknown:
            problems.append(f"variants {', '.join(repr(v[:40]) for v in unknown)}: not variants of preset "
                            f"'{preset.name}' (its variants: {', '.join(preset.variants)}) nor slugs")
        if len(kept) > MAX_VARIANTS:
            problems.append(f"variants: {len(kept)} given; the first {MAX_VARIANTS} kept")
        variants = tuple(kept[:MAX_VARIANTS]) or None
    size = negative = None
    try:
        size = _own_size(preset, params["size"]) if "size" in params else None
    except InputError as e:
        problems.append(str(e))
    try:
        negative = check_negative_prompt(preset, params.get("negative"))
    except InputError as e:
        problems.append(str(e))
    return Setup(preset.name, prompt.strip() if prompt else None, seed, steps, variants, repeats, tuple(problems),
                 size, negative)


def _is_recipe(preset: Preset, name: str) -> bool:
    """Whether `name` is one of the preset's variants or reads as a slug, bad values and all (a typo is neither)."""
    if name in preset.variants:
        return True
    try:
        parse_slug(name, preset.weights)
    except RecipeError as e:
        return not isinstance(e, UnknownSlugPart)
    return True
