"""Synthesis forward+backward time: our reference path, our CUDA path and the official code, side by side.

    python scripts/bench_generator.py --resolution 32 --channels 1 --batch 16
    python scripts/bench_generator.py --official /path/to/stylegan2-ada-pytorch --resolution 256 --batch 8

Every implementation gets the same weights and inputs, so the ratios compare like with like. The
official implementation is imported from the path given (it is never bundled) and runs with its own
op selection (its reference path on CPU, its plugin on CUDA).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from generators import StyleGAN2Generator


def build(args):
    return StyleGAN2Generator(
        z_dim=args.z_dim, c_dim=0, w_dim=args.z_dim, img_resolution=args.resolution, img_channels=args.channels,
        mapping_kwargs=dict(num_layers=args.map_layers),
        synthesis_kwargs=dict(channel_base=args.channel_base, channel_max=args.channel_max,
                              num_fp16_res=args.fp16_res, conv_clamp=256 if args.fp16_res else None))


def time_synthesis(synthesis, ws, repeats: int, device) -> float:
    """Median seconds of one forward+backward through ``synthesis(ws)``."""
    times = []
    for i in range(repeats + 2):
        w = ws.detach().clone().requires_grad_(True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        img = synthesis(w)
        img.square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:  # warm-up: plugin build, cudnn autotune, allocator
            times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def official_generator(path: str, ours, device):
    sys.path.insert(0, path)
    from training.networks import Generator  # type: ignore  # noqa: E402

    cfg = ours.config
    G = Generator(z_dim=cfg["z_dim"], c_dim=0, w_dim=cfg["w_dim"], img_resolution=cfg["img_resolution"],
                  img_channels=cfg["img_channels"], mapping_kwargs=dict(cfg["mapping_kwargs"]),
                  synthesis_kwargs={k: v for k, v in cfg["synthesis_kwargs"].items()
                                    if k in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp",
                                             "architecture")})
    G.load_state_dict(ours.state_dict())
    return G.to(device)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--z-dim", type=int, default=128)
    p.add_argument("--map-layers", type=int, default=2)
    p.add_argument("--channel-base", type=int, default=2048)
    p.add_argument("--channel-max", type=int, default=64)
    p.add_argument("--fp16-res", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--official", default=None, help="path of a stylegan2-ada-pytorch checkout to compare with")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    G = build(args).to(device)
    ws = G.mapping(G.sample_z(args.batch, 0, device)).detach()
    off = official_generator(args.official, G, device) if args.official else None
    if device.type != "cuda":
        print("no CUDA device: the CUDA path is not timed")
    print(f"synthesis fwd+bwd, {args.resolution}px x{args.channels}, batch {args.batch}, {device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'mode':<6} {'implementation':<14} {'ms':>9} {'vs cfgan ref':>13}")
    # eval mode is what inversion, paths and AM run in; train mode is what training runs in
    for mode in ("eval", "train"):
        for net in (G, off):
            if net is not None:
                net.train(mode == "train")
        rows = []
        os.environ["CFGAN_OPS_IMPL"] = "ref"
        rows.append(("cfgan ref", time_synthesis(lambda w: G.synthesis(w), ws, args.repeats, device)))
        del os.environ["CFGAN_OPS_IMPL"]
        if device.type == "cuda":
            rows.append(("cfgan cuda", time_synthesis(lambda w: G.synthesis(w), ws, args.repeats, device)))
        if off is not None:
            rows.append(("official", time_synthesis(lambda w: off.synthesis(w, noise_mode="const"), ws,
                                                    args.repeats, device)))
        base = rows[0][1]
        for name, t in rows:
            print(f"{mode:<6} {name:<14} {t * 1e3:9.2f} {base / t:12.2f}x")


if __name__ == "__main__":
    main()
