"""Pretrained generators behind one interface (see ``generators.base``)."""
from generators.base import SPACES, Generator
from generators.loaders import CheckpointError, load, save
from generators.stylegan2 import StyleGAN2Generator

__all__ = ["Generator", "SPACES", "StyleGAN2Generator", "load", "save", "CheckpointError"]
