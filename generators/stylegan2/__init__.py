"""StyleGAN2 (ADA), state-dict compatible with the official stylegan2-ada-pytorch networks.

    layers        equalised-learning-rate dense and convolution layers
    modulation    style modulation / demodulation of a convolution (two equivalent forms)
    styled        the layers that read a W code: StyledConv and ToRGB
    mapping       z (+ class) -> W+, truncation
    synthesis     W+ -> image, one block per resolution
    generator     StyleGAN2Generator: both halves behind the cfgan Generator interface
    discriminator the training-time critic
    training      the training recipe (losses, regularisers, EMA, checkpoints)
"""
from generators.stylegan2.discriminator import Discriminator
from generators.stylegan2.generator import StyleGAN2Generator
from generators.stylegan2.mapping import MappingNetwork
from generators.stylegan2.synthesis import SynthesisNetwork

__all__ = ["StyleGAN2Generator", "MappingNetwork", "SynthesisNetwork", "Discriminator"]
