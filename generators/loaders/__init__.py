"""Load the generator checkpoints people have (safely) and save them in cfgan's own format.

``load`` recognises a file by its content: cfgan files, official StyleGAN2-ADA pickles, rosinality
checkpoints, TorchScript modules; or ``zoo:NAME`` and ``package.module:attr``. No format is read with
code-executing unpickling.
"""
from generators.files import file_sha256
from generators.loaders.dispatch import load, load_file
from generators.loaders.errors import CheckpointError
from generators.loaders.module import ModuleGenerator, load_module_spec, load_torchscript
from generators.loaders.native import save
from generators.loaders.official_pickle import load_official_pickle
from generators.loaders.rosinality import export_rosinality, generator_from_rosinality

__all__ = ["load", "load_file", "save", "CheckpointError", "file_sha256", "ModuleGenerator",
           "load_module_spec", "load_torchscript", "load_official_pickle", "generator_from_rosinality",
           "export_rosinality"]
