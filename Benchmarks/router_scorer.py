"""Loads the reference router scorer (../shared/bench/router_eval.py) as a module, so that
the router benchmark scripts compute with its own functions rather than copies of them."""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PATH = os.path.join(HERE, "..", "..", "shared", "bench", "router_eval.py")


def add_argument(parser):
    parser.add_argument("--scorer", default=DEFAULT_PATH, help="router_eval.py (default: ../shared/bench/)")


def load_module(name, path):
    """Imports the Python file at `path` as module `name` (file names with dashes too)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path=DEFAULT_PATH):
    return load_module("router_eval", path)
