"""``package.module:attr`` and ``path/to/file.py:attr``: how a user names Python objects on the command line.

Generators and classifiers are both given this way; importing runs the user's own chosen code, like
any import (checkpoint files, by contrast, are never executed).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

#: ``pkg.mod:attr`` or ``some/file.py:attr``; ``attr`` may be dotted (``mod:Class.factory``)
OBJECT_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*|.+\.py):(?P<attr>[A-Za-z_][\w.]*)$")


class SpecError(ValueError):
    """An object spec that does not resolve: bad form, missing module or file, or missing attribute."""


def is_object_spec(text: str) -> bool:
    return isinstance(text, str) and OBJECT_SPEC.match(text) is not None


def import_object(spec: str, what: str = "object"):
    """The object ``spec`` names; errors say which part failed."""
    match = OBJECT_SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise SpecError(f"{what} spec {spec!r} is not of the form 'package.module:attr' or 'file.py:attr'")
    module_name, attr = match.group("module"), match.group("attr")
    if module_name.endswith(".py"):
        file = Path(module_name)
        if not file.is_file():
            raise SpecError(f"{what} spec {spec!r}: file {file} does not exist")
        loader_spec = importlib.util.spec_from_file_location(f"_cfgan_user_{file.stem}", file)
        module = importlib.util.module_from_spec(loader_spec)
        try:
            loader_spec.loader.exec_module(module)
        except Exception as err:  # the user's file failed while importing: say so, with its own message
            raise SpecError(f"{what} spec {spec!r}: importing {file} failed: {type(err).__name__}: {err}") \
                from err
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise SpecError(f"{what} spec {spec!r}: cannot import module '{module_name}' ({err})") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{what} spec {spec!r}: '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    return obj
