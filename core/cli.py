"""The `serwb` command line. Each subcommand is a thin call into core; user errors print one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from core import __version__
from core.errors import SerwbError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _corpus_demo(args: argparse.Namespace) -> None:
    from core.data.synthetic import generate

    manifest = generate(Path(args.out), seed=args.seed, size=args.size)
    print(f"wrote {manifest}")


def _corpus_inspect(args: argparse.Namespace) -> None:
    from core.data.corpora import load_manifest

    print(load_manifest(Path(args.root), corpus=args.corpus).summary())


def _app(args: argparse.Namespace) -> None:
    """Start the Streamlit workbench from the repository root (it reads .streamlit/config.toml there)."""
    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "workbench" / "app.py")]
    if args.port:
        command += ["--server.port", str(args.port)]
    raise SystemExit(subprocess.call(command, cwd=REPO_ROOT))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serwb", description="Explain speech-emotion-recognition models.")
    parser.add_argument("--version", action="version", version=f"serwb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    corpus = commands.add_parser("corpus", help="make or inspect a corpus").add_subparsers(
        dest="corpus_command", required=True, metavar="ACTION"
    )
    demo = corpus.add_parser("demo", help="generate the synthetic demo corpus with espeak-ng")
    demo.add_argument("--out", required=True, help="folder to write WAVs and manifest.csv into")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", choices=["small", "full"], default="full")
    demo.set_defaults(run=_corpus_demo)
    inspect = corpus.add_parser("inspect", help="detect a corpus and count clips per label and speaker")
    inspect.add_argument("root", help="corpus folder or manifest CSV")
    inspect.add_argument("--corpus", default="auto", help="force a layout instead of detecting it")
    inspect.set_defaults(run=_corpus_inspect)

    app = commands.add_parser("app", help="start the workbench in the browser")
    app.add_argument("--port", type=int, default=None)
    app.set_defaults(run=_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except SerwbError as e:
        print(f"serwb: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
