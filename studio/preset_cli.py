"""`python -m studio presets`: list the presets, or write one for your own model (`presets new`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.preset_new import write_new_preset
from studio.presets import USER_PRESETS_VAR, is_user_preset, list_presets, load_preset, user_presets_dir
from studio.storage import output_folder_problem
from studio.usage import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list presets, or write one for your own model (presets new --help)")
    psub = p.add_subparsers(dest="presets_command", parser_class=type(p))
    n = psub.add_parser("new", help="a preset for your own model that starts from a shipped one",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                            "example:\n  python -m studio presets new our-flux --from flux1-dev "
                            "--source our-org/flux-ft --revision 0123abc --dir my-presets\n"
                            f"  export {USER_PRESETS_VAR}=$PWD/my-presets   # the app, compare, bench and distill "
                            "find it by name"))
    n.add_argument("name", help="the new preset's name (lowercase letters, digits, '.', '_', '-')")
    n.add_argument("--from", dest="base", required=True, help="the preset to start from (same pipeline class)")
    n.add_argument("--source", required=True,
                   help="your model: a Hub id (org/name) or an absolute folder a pipeline was saved to")
    n.add_argument("--revision", default=None, help="Hub branch, tag or commit to pin (a commit is reproducible)")
    n.add_argument("--title", default=None, help="the name shown in the app (default: the base's and your source)")
    n.add_argument("--dir", default=None, help=f"folder to write NAME.toml to (default: ${USER_PRESETS_VAR})")
    n.add_argument("--force", action="store_true", help="replace an existing file of that name")


def run(args) -> int:
    if args.presets_command == "new":
        return _new(args)
    for name in list_presets():
        p = load_preset(name)
        mark = " (yours)" if is_user_preset(name) else ""
        print(f"{name:24s} {p.media:5s} {p.title}{mark}  [{p.requirements}]")
    return 0


def _new(args) -> int:
    folder = Path(args.dir).expanduser() if args.dir else user_presets_dir()
    if folder is None:
        raise UsageError(f"say where to write the preset: --dir FOLDER (then set {USER_PRESETS_VAR} to it), "
                         f"or set {USER_PRESETS_VAR}")
    if problem := output_folder_problem("--dir", folder):
        raise UsageError(problem)
    made = write_new_preset(folder.resolve(), args.name, args.base, args.source, args.revision, args.title,
                            args.force)
    p = made.preset
    print(f"wrote {made.path}: '{p.title}', {len(p.variants)} variants from {args.base} "
          f"({', '.join(p.variants)}); selected at first: {', '.join(p.default_variants)}")
    if made.left_out:
        print(f"left out: {', '.join(made.left_out)} (they run {args.base}'s own distilled weights, not your model); "
              f"train a student of yours with: python -m studio distill --preset {args.name} ...")
    if user_presets_dir() != folder.resolve():
        print(f"next: export {USER_PRESETS_VAR}={folder.resolve()}")
    print(f"then: python -m studio doctor --preset {args.name}    # and the app lists '{p.title}'")
    return 0
