"""Memory of a regularised path batch on a full-size generator, with and without ``optimize``'s memory bound.

A regularised path renders every frame of every path with gradients in each optimisation step. This runs one
such batch (``--paths`` paths of ``--frames`` frames at a fixed identity weight, so every step is the joint
trajectory over all frames) on a randomly initialised StyleGAN2 of the official configuration at
``--resolution`` px (z/w 512, channel_base 32768, channel_max 512; 14 W layers at 256 px) and a small random
classifier, once per setting, each in its own process, and prints per setting:

- peak resident memory of the process (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at its end; the same
  figure ``RUSAGE_CHILDREN`` gives the parent), and the resident memory after building the models, before
  any optimisation (the models' own share);
- seconds per optimisation step (the trajectory phase divided by its steps, including optimize's closing
  evaluation);
- how far the bounded run's codes are from the first setting's (the same optimisation, float rounding aside;
  Adam's first steps divide each gradient coordinate by its own size, so a coordinate whose gradient is
  near zero can step either way on a last-bit difference: the mean difference says how rare that is).

Settings: ``none`` (one pass of all frames), ``images=K`` (at most K images per pass), ``mb=M`` (a byte budget
of M MiB for what autograd keeps per pass, sized from the first pass).

    PYTHONPATH=. python scripts/bench_memory.py --resolution 256 --frames 16 --steps 2 \\
        --settings none,images=1,images=4,mb=400 --out runs/bench_memory.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--paths", type=int, default=1)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--steps", type=int, default=2, help="trajectory steps (keep it small on a CPU)")
    p.add_argument("--settings", default="none,images=1,images=4,mb=400")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the table as JSON here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--frames-file", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def rss_mib() -> float:
    """Current resident memory of this process, from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_of(setting: str):
    from inversion import MemoryBound

    if setting == "none":
        return None
    kind, _, value = setting.partition("=")
    if kind == "images":
        return MemoryBound(max_items=int(value))
    if kind == "mb":
        return MemoryBound(max_bytes=int(float(value) * 2 ** 20))
    raise SystemExit(f"--settings: unknown setting {setting!r}: use none, images=K or mb=M")


def child(args) -> dict:
    import torch
    from torch import nn

    import generators
    from cfgan.classifiers import Classifier
    from cfgan.paths import cross

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    G = generators.StyleGAN2Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.resolution, img_channels=3,
                                      synthesis_kwargs=dict(channel_base=32768, channel_max=512))
    G = G.eval().requires_grad_(False)
    model = nn.Sequential(nn.AvgPool2d(8), nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                          nn.Flatten(), nn.Linear(128, 2)).eval().requires_grad_(False)
    clf = Classifier(model, class_names=["a", "b"])
    with torch.no_grad():
        start = clf(G.sample(args.paths, seed=args.seed)).argmax(1)
    target = [1 - int(c) for c in start]  # cross away from wherever each start is
    built = rss_mib()
    t0 = time.perf_counter()
    res = cross(G, clf, list(range(args.seed, args.seed + args.paths)), target, method="regularized",
                frames=args.frames, lam=1.0, steps=args.steps, search_steps=1, lpips=False,
                memory=memory_of(args.child))
    wall = time.perf_counter() - t0
    if args.frames_file:
        torch.save(res.codes.values, args.frames_file)
    return {"setting": args.child, "num_ws": G.num_ws, "parameters": sum(p.numel() for p in G.parameters()),
            "images_per_step": args.paths * (args.frames - 1),
            "rss_after_models_mib": built,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds_per_step": res.timings["trajectory"] / (args.steps + 1), "seconds_total": wall,
            "crossed": int(res.crossed.sum())}


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return None
    rows, reference = [], None
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    for setting in settings:
        memory_of(setting)  # a bad setting fails before any run
    folder = os.path.dirname(os.path.abspath(args.out)) if args.out else os.getcwd()
    for k, setting in enumerate(settings):
        frames_file = os.path.join(folder, f".bench_memory_frames_{k}.pt")
        cmd = [sys.executable, os.path.abspath(__file__), "--child", setting, "--frames-file", frames_file,
               *[f"--{name}={getattr(args, name)}" for name in ("resolution", "paths", "frames", "steps", "threads",
                                                                 "seed")]]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["peak_rss_children_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        import torch

        values = torch.load(frames_file, weights_only=True)
        os.remove(frames_file)
        if reference is None:
            reference = values
        diff = (values - reference).abs()
        moved = (reference - reference[:1]).abs().max()  # how far the frames moved from the start code
        row["max_code_difference_to_first"] = float(diff.max())
        row["mean_code_difference_to_first"] = float(diff.mean())
        row["coordinates_differing_by_more_than_1e-3_of_the_move"] = float((diff > 1e-3 * moved).float().mean())
        rows.append(row)
        print(f"{setting:10s} peak RSS {row['peak_rss_mib']:8.0f} MiB (models alone {row['rss_after_models_mib']:6.0f} "
              f"MiB)   {row['seconds_per_step']:6.1f} s/step   {row['images_per_step']} images with gradients per "
              f"step   codes differ from the first setting's by {row['max_code_difference_to_first']:.2e} at most, "
              f"{row['mean_code_difference_to_first']:.2e} on average", flush=True)
    payload = {"settings": {k: v for k, v in vars(args).items() if k not in ("child", "frames_file")},
               "generator": f"random StyleGAN2, official configuration at {args.resolution} px "
                            "(z/w 512, channel_base 32768, channel_max 512)", "rows": rows}
    if args.out:
        os.makedirs(folder, exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(payload, f, indent=2)
    return payload


if __name__ == "__main__":
    main()
