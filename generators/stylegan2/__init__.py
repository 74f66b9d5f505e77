"""Native StyleGAN2 (ADA) generator, state-dict compatible with NVlabs stylegan2-ada-pytorch."""
from generators.stylegan2.discriminator import Discriminator
from generators.stylegan2.generator import StyleGAN2Generator
from generators.stylegan2.mapping import MappingNetwork
from generators.stylegan2.synthesis import SynthesisNetwork

__all__ = ["StyleGAN2Generator", "MappingNetwork", "SynthesisNetwork", "Discriminator"]
