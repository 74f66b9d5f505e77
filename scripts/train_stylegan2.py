"""Train cfgan's StyleGAN2 on Fashion-MNIST (32x32 grayscale) from scratch.

The recipe of stylegan2-ada-pytorch without augmentation: non-saturating logistic loss, lazy R1 on reals,
style-mixing regularisation, EMA generator with ramp-up, Adam(0, 0.99) with the lazy-regularisation
lr/beta correction; optional path-length regularisation (off by default).

Runs are time-boxable (``--minutes``) and resumable (``--resume``): ``<outdir>/checkpoint.pt`` holds G, D,
G_ema, optimiser and RNG states and is rewritten atomically every ``--snapshot-minutes`` and on
SIGINT/SIGTERM.
The result, ``<outdir>/final.pt``, is the EMA generator alone in the native ``generators.save`` format.

    python scripts/train_stylegan2.py --config gpu --kimg 5000 --minutes 6 --outdir runs/fmnist-gpu
    python scripts/train_stylegan2.py --config cpu --kimg 200 --outdir runs/fmnist-cpu --resume
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import signal
import sys
import time
from pathlib import Path

try:
    import generators  # noqa: F401
except ImportError:  # run as a plain script from a checkout: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from cfgan.data import load_fashion_mnist, make_grid, save_image, to_model_range
from generators.stylegan2 import StyleGAN2Generator
from generators.stylegan2.discriminator import Discriminator

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "cfgan.train_checkpoint"
GRID_SEED = 0  # z seed of every sample grid, so grids of one run (and of runs) are comparable

# Everything a preset fixes; each key is also a command-line option (--key, underscores as dashes).
PRESETS = {
    # 64 channels everywhere: ~1.4 CPU-seconds per step (one busy core), i.e. ~0.7-1.4 s on 2 cores.
    "cpu": dict(z_dim=128, w_dim=128, map_layers=2, channel_base=2048, channel_max=64, batch=32,
                mbstd_group=4, r1_gamma=0.01, ema_kimg=10.0, ema_rampup=0.05),
    # 256 channels at 4-16 px, 128 at 32 px. On an H200 a step takes ~0.05 s at batch 64 and at batch 128
    # alike (bound by Python/kernel launches, not arithmetic), so batch 128 doubles the images per minute.
    "gpu": dict(z_dim=256, w_dim=256, map_layers=4, channel_base=4096, channel_max=256, batch=128,
                mbstd_group=4, r1_gamma=0.01, ema_kimg=20.0, ema_rampup=0.05),
}
COMMON_DEFAULTS = dict(
    lr=0.0025, map_lr_mult=0.01, style_mixing=0.9, r1_interval=16, pl_weight=0.0, pl_interval=4,
    xflip=False, g_arch="skip", d_arch="resnet", num_fp16_res=0, conv_clamp=None, kimg=1000.0,
)
# Options a resumed run may change; all others come from the checkpoint so the run stays one run.
RUN_CONTROL = ("kimg", "minutes", "outdir", "data", "snapshot_minutes", "snapshot_steps", "log_every",
               "device", "resume", "threads")


def parse_args(argv=None):
    """(options, names of the hyper-parameters given explicitly on the command line)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(PRESETS), help="hyper-parameter preset (default cpu)")
    p.add_argument("--outdir", required=True, help="run folder (checkpoint, logs, samples, final.pt)")
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files "
                   "(default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--kimg", type=float, default=None, help="stop after this many thousand real images")
    p.add_argument("--minutes", type=float, default=None, help="stop after this much wall time (counted "
                   "from start-up, set-up and kernel compilation included); the final files follow")
    p.add_argument("--resume", action="store_true", help="continue from <outdir>/checkpoint.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="'cuda' or 'cpu' (default: cuda when available)")
    p.add_argument("--snapshot-minutes", type=float, default=2.0, help="checkpoint every N minutes")
    p.add_argument("--snapshot-steps", type=int, default=0, help="also checkpoint every N steps (0 = off)")
    p.add_argument("--log-every", type=int, default=100, help="log every N steps (each log syncs the GPU)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's "
                   "choice; 1 is much faster on a busy machine)")
    # Hyper-parameters (default: the preset's value).
    p.add_argument("--z-dim", type=int)
    p.add_argument("--w-dim", type=int)
    p.add_argument("--map-layers", type=int)
    p.add_argument("--map-lr-mult", type=float, help="mapping network lr multiplier (official 0.01)")
    p.add_argument("--channel-base", type=int, help="channels at resolution r = min(base // r, max)")
    p.add_argument("--channel-max", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--mbstd-group", type=int, help="minibatch-std group size (must divide --batch)")
    p.add_argument("--lr", type=float)
    p.add_argument("--r1-gamma", type=float, help="R1 weight (0 disables R1)")
    p.add_argument("--r1-interval", type=int, help="lazy R1: every N steps")
    p.add_argument("--pl-weight", type=float, help="path-length regularisation weight (0 = off, official 2)")
    p.add_argument("--pl-interval", type=int, help="lazy path-length regularisation: every N steps")
    p.add_argument("--style-mixing", type=float, help="style-mixing probability (0 disables)")
    p.add_argument("--ema-kimg", type=float, help="EMA half-life in thousands of images")
    p.add_argument("--ema-rampup", type=float, help="EMA ramp-up: half-life <= rampup * images seen "
                   "(negative disables)")
    p.add_argument("--xflip", action=argparse.BooleanOptionalAction, default=None,
                   help="random left-right flips of the real images")
    p.add_argument("--g-arch", choices=["orig", "skip", "resnet"])
    p.add_argument("--d-arch", choices=["orig", "skip", "resnet"])
    p.add_argument("--num-fp16-res", type=int, help="float16 for the N highest resolutions (CUDA only)")
    p.add_argument("--conv-clamp", type=float, help="clamp conv outputs to +-X (official 256 with fp16)")
    args = vars(p.parse_args(argv))
    explicit = {k for k, v in args.items() if v is not None and k not in RUN_CONTROL}
    args["config"] = args["config"] or "cpu"
    options = {**COMMON_DEFAULTS, **PRESETS[args["config"]]}
    options.update({k: v for k, v in args.items() if v is not None or k not in options})
    return options, explicit


def validate(options: dict) -> None:
    def need(cond, msg):
        if not cond:
            raise SystemExit(f"train_stylegan2: {msg}")
    need(options["batch"] >= 1, f"--batch must be >= 1, got {options['batch']}")
    need(options["batch"] % min(options["mbstd_group"], options["batch"]) == 0,
         f"--batch {options['batch']} must be divisible by --mbstd-group {options['mbstd_group']}")
    need(options["kimg"] > 0, f"--kimg must be > 0, got {options['kimg']}")
    need(options["minutes"] is None or options["minutes"] > 0, "--minutes must be > 0")
    need(options["r1_interval"] >= 1 and options["pl_interval"] >= 1, "regularisation intervals must be >= 1")
    need(0 <= options["style_mixing"] <= 1, "--style-mixing must be a probability in [0, 1]")
    need(options["log_every"] >= 1, "--log-every must be >= 1")


# -- networks ----------------------------------------------------------------------------------------------
def build_networks(options: dict, resolution: int, channels: int):
    common = dict(channel_base=options["channel_base"], channel_max=options["channel_max"],
                  num_fp16_res=options["num_fp16_res"], conv_clamp=options["conv_clamp"])
    G = StyleGAN2Generator(
        z_dim=options["z_dim"], c_dim=0, w_dim=options["w_dim"], img_resolution=resolution,
        img_channels=channels,
        mapping_kwargs=dict(num_layers=options["map_layers"], lr_multiplier=options["map_lr_mult"]),
        synthesis_kwargs=dict(architecture=options["g_arch"], **common))
    D = Discriminator(c_dim=0, img_resolution=resolution, img_channels=channels,
                      architecture=options["d_arch"],
                      epilogue_kwargs=dict(mbstd_group_size=options["mbstd_group"]), **common)
    return G, D


def make_optimizer(module, options: dict, reg_interval, device):
    """Adam with the official lazy-regularisation correction: the regulariser runs every ``reg_interval``
    steps with its loss scaled up by the interval, so lr and betas are rescaled to keep the effective
    step size (mb_ratio = k / (k + 1))."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    kwargs = dict(lr=options["lr"] * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
    if device.type == "cuda":
        kwargs["fused"] = True
    return torch.optim.Adam(module.parameters(), **kwargs)


# -- data --------------------------------------------------------------------------------------------------
class ImageStream:
    """Epoch-wise shuffled batches, fully determined by (seed, images seen) so a resumed run continues the
    exact sequence without storing sampler state. The data set lives on the device as uint8."""

    def __init__(self, images_uint8: torch.Tensor, seed: int, device):
        self.images = images_uint8.to(device)
        self.seed = seed
        self.device = device
        self._epoch, self._perm = None, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.images), generator=g).to(self.device)
            self._epoch = epoch
        return self._perm

    def batch(self, start_image: int, size: int) -> torch.Tensor:
        n = len(self.images)
        parts, pos = [], start_image
        while pos < start_image + size:
            epoch, offset = divmod(pos, n)
            take = min(n - offset, start_image + size - pos)
            parts.append(self._permutation(epoch)[offset:offset + take])
            pos += take
        idx = parts[0] if len(parts) == 1 else torch.cat(parts)
        return to_model_range(self.images[idx])


def load_images(data_dir) -> torch.Tensor:
    try:
        images, _ = load_fashion_mnist("train", root=data_dir, pad_to=32)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"train_stylegan2: cannot load the training data: {err}") from err
    return images


# -- training ----------------------------------------------------------------------------------------------
class StyleGAN2Trainer:
    """Owns the networks, optimisers and the one training step; no I/O except through ``state_dict``."""

    def __init__(self, options: dict, resolution: int, channels: int, device):
        self.options = options
        self.device = device
        self.G, self.D = build_networks(options, resolution, channels)
        self.G.train().to(device)
        self.D.train().to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_G = make_optimizer(self.G, options, options["pl_interval"] if self.pl_on else None, device)
        self.opt_D = make_optimizer(self.D, options, options["r1_interval"] if self.r1_on else None, device)
        self.pl_mean = torch.zeros([], device=device)
        self.step = 0  # completed training steps
        self.nimg = 0  # real images shown to D
        # Loss sums stay on the device between logs (no per-step host sync).
        self.stats = {}

    @property
    def r1_on(self) -> bool:
        return self.options["r1_gamma"] > 0

    @property
    def pl_on(self) -> bool:
        return self.options["pl_weight"] > 0

    def _accumulate(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().float()
        total, count = self.stats.get(name, (torch.zeros([], device=self.device), 0))
        self.stats[name] = (total + value, count + 1)

    def pop_stats(self) -> dict:
        """Means since the last call (syncs the device once)."""
        out = {name: (total / count).item() for name, (total, count) in self.stats.items()}
        self.stats = {}
        return out

    def run_G(self, z: torch.Tensor, update_w_avg: bool = True):
        """z -> (images, ws), with per-batch style mixing as the official loss: with probability p, the
        W+ entries from a random cutoff on come from a second z. Done with a mask so there is no host sync."""
        G = self.G
        ws = G.mapping(z, None, update_w_avg=update_w_avg)
        p = self.options["style_mixing"]
        if p > 0:
            num_ws = ws.shape[1]
            cutoff = torch.randint(1, max(num_ws, 2), [], device=ws.device)
            no_mixing = torch.full_like(cutoff, num_ws)
            cutoff = torch.where(torch.rand([], device=ws.device) < p, cutoff, no_mixing)
            ws2 = G.mapping(torch.randn_like(z), None, update_w_avg=False)
            mix = (torch.arange(num_ws, device=ws.device) >= cutoff).view(1, num_ws, 1)
            ws = torch.where(mix, ws2, ws)
        return G.synthesis(ws, noise_mode="random"), ws

    def augment(self, real: torch.Tensor) -> torch.Tensor:
        if not self.options["xflip"]:
            return real
        flip = torch.rand(real.shape[0], 1, 1, 1, device=real.device) < 0.5
        return torch.where(flip, real.flip(3), real)

    def train_step(self, real: torch.Tensor) -> None:
        """One iteration: G main, [G path length], D main, [D R1] -- the official phase order."""
        o, G, D = self.options, self.G, self.D
        batch = real.shape[0]
        z_dim = G.z_dim

        # G main: make D call fakes real (non-saturating loss).
        G.requires_grad_(True)
        D.requires_grad_(False)
        fake, _ = self.run_G(torch.randn(batch, z_dim, device=self.device))
        fake_logits = D(fake)
        loss_G = F.softplus(-fake_logits).mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        self._accumulate("loss_G", loss_G)

        # G path-length regularisation (lazy).
        if self.pl_on and self.step % o["pl_interval"] == 0:
            self._path_length_step(batch)

        # D main: fakes low, reals high.
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad():
            fake, _ = self.run_G(torch.randn(batch, z_dim, device=self.device))
        real = self.augment(real)
        fake_logits = D(fake)
        real_logits = D(real)
        loss_D = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()
        self._accumulate("loss_D", loss_D)
        self._accumulate("D_real", real_logits.mean())
        self._accumulate("D_fake", fake_logits.mean())

        # D R1 (lazy): penalise the gradient norm of D at the reals.
        if self.r1_on and self.step % o["r1_interval"] == 0:
            real_tmp = real.detach().requires_grad_(True)
            logits = D(real_tmp)
            (grad,) = torch.autograd.grad(logits.sum(), real_tmp, create_graph=True)
            penalty = grad.square().sum(dim=[1, 2, 3])
            loss_r1 = penalty.mean() * (o["r1_gamma"] / 2) * o["r1_interval"]
            self.opt_D.zero_grad(set_to_none=True)
            loss_r1.backward()
            self.opt_D.step()
            self._accumulate("r1_penalty", penalty.mean())
        D.requires_grad_(False)

        self.step += 1
        self.nimg += batch
        self._update_ema(batch)

    def _path_length_step(self, batch: int) -> None:
        o = self.options
        size = max(batch // 2, 1)
        img, ws = self.run_G(torch.randn(size, self.G.z_dim, device=self.device))
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), 0.01)
        self.pl_mean.copy_(pl_mean.detach())
        loss = (lengths - pl_mean).square().mean() * o["pl_weight"] * o["pl_interval"]
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_G.step()
        self._accumulate("pl_penalty", (lengths - pl_mean).square().mean())

    def ema_half_life_images(self) -> float:
        half_life = self.options["ema_kimg"] * 1000
        if self.options["ema_rampup"] is not None and self.options["ema_rampup"] > 0:
            half_life = min(half_life, self.nimg * self.options["ema_rampup"])
        return half_life

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        beta = 0.5 ** (batch / max(self.ema_half_life_images(), 1e-8))
        ema_params = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema_params, list(self.G.parameters()), 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # -- (de)serialisation -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        cuda_rng = torch.cuda.get_rng_state() if self.device.type == "cuda" else None
        return dict(
            format=CHECKPOINT_FORMAT, version=1, options=self.options, step=self.step, nimg=self.nimg,
            G_config=self.G.config, D_config=self.D.config,
            G=self.G.state_dict(), D=self.D.state_dict(), G_ema=self.G_ema.state_dict(),
            opt_G=self.opt_G.state_dict(), opt_D=self.opt_D.state_dict(), pl_mean=self.pl_mean,
            rng_cpu=torch.get_rng_state(), rng_cuda=cuda_rng, rng_device=self.device.type,
        )

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        for opt, key in ((self.opt_G, "opt_G"), (self.opt_D, "opt_D")):
            # Implementation flags (fused/foreach) belong to this device, not to the one that saved.
            flags = [{k: g.get(k) for k in ("fused", "foreach", "capturable")} for g in opt.param_groups]
            opt.load_state_dict(state[key])
            for group, saved in zip(opt.param_groups, flags):
                group.update(saved)
        self.pl_mean.copy_(state["pl_mean"])
        self.step = int(state["step"])
        self.nimg = int(state["nimg"])
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"])


# -- files -------------------------------------------------------------------------------------------------
def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: an interrupted write never leaves a broken file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@torch.no_grad()
def write_grid(G, path: Path, n: int = 64) -> None:
    """8x8 samples of fixed z (seed ``GRID_SEED``), psi=1, constant noise."""
    images = G.sample(n, seed=GRID_SEED).cpu()
    save_image(make_grid(images, nrow=8), path)


def save_generator(G, path: Path, meta: dict) -> None:
    """The native generator file (``generators.save`` when present, else the same format by hand)."""
    try:
        from generators import save as native_save
    except ImportError:
        native_save = None
    G_cpu = copy.deepcopy(G).cpu().eval()
    if native_save is not None:
        tmp = path.with_name(path.name + ".tmp")
        native_save(G_cpu, tmp, meta=meta)
        os.replace(tmp, path)
    else:
        atomic_save({"format": "cfgan.generator", "version": 1, "arch": "stylegan2", "config": G_cpu.config,
                     "state_dict": G_cpu.state_dict(), "meta": meta}, path)


def hardware_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


class StopFlag:
    """SIGINT/SIGTERM ask the loop to stop after the current step (a second SIGINT aborts at once)."""

    def __init__(self):
        self.reason = None
        self._previous = {}

    def __enter__(self):
        import threading
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        print(f"[train] {self.reason} received: finishing the step and writing a snapshot", flush=True)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def main(argv=None) -> dict:
    """Train; returns a summary dict (also written to ``<outdir>/provenance.json``)."""
    options, explicit = parse_args(argv)
    threads = torch.get_num_threads()
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    try:
        return _train(options, explicit, argv)
    finally:
        torch.set_num_threads(threads)  # main() may be called from other code: leave torch as found


def _train(options: dict, explicit: set, argv) -> dict:
    start = time.time()
    command = "python scripts/train_stylegan2.py " + " ".join(sys.argv[1:] if argv is None else argv)
    outdir = Path(options["outdir"])
    ckpt_path = outdir / CHECKPOINT_NAME

    state = None
    if options["resume"]:
        if not ckpt_path.is_file():
            raise SystemExit(f"train_stylegan2: --resume given but {ckpt_path} does not exist")
        try:
            state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any load failure means an unusable file
            raise SystemExit(f"train_stylegan2: cannot read checkpoint {ckpt_path}: {err}") from err
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise SystemExit(f"train_stylegan2: {ckpt_path} is not a training checkpoint of this script")
        saved = dict(state["options"])
        conflicts = sorted(k for k in explicit if options[k] != saved.get(k))
        if conflicts:
            raise SystemExit("train_stylegan2: a resumed run keeps the hyper-parameters of its checkpoint; "
                             "these options differ from it: " + ", ".join(
                                 f"--{k.replace('_', '-')} {options[k]} (checkpoint: {saved.get(k)})"
                                 for k in conflicts))
        saved.update({k: options[k] for k in RUN_CONTROL})
        options = saved
    validate(options)

    device = torch.device(options["device"] or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    outdir.mkdir(parents=True, exist_ok=True)

    images = load_images(options["data"])
    torch.manual_seed(options["seed"])
    trainer = StyleGAN2Trainer(options, images.shape[-1], images.shape[1], device)
    stream = ImageStream(images, options["seed"], device)
    prior_seconds = 0.0
    if state is not None:
        trainer.load_state_dict(state)
        prior_seconds = float(state.get("train_seconds", 0.0))
        print(f"[train] resumed {ckpt_path} at step {trainer.step} ({trainer.nimg / 1000:.1f} kimg)",
              flush=True)
    del state

    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    print(f"[train] device {hardware_name(device)}; G {n_params(trainer.G) / 1e6:.2f}M params, "
          f"D {n_params(trainer.D) / 1e6:.2f}M; batch {options['batch']}; "
          f"set-up {time.time() - start:.1f}s", flush=True)

    log_path = outdir / "log.jsonl"
    total_images = int(options["kimg"] * 1000)
    deadline = start + options["minutes"] * 60 if options["minutes"] else None
    last_snapshot = time.time()
    last_log_time, last_log_step = time.time(), trainer.step
    loop_start, loop_start_step = time.time(), trainer.step

    def snapshot(reason: str):
        nonlocal last_snapshot
        sd = trainer.state_dict()
        sd["train_seconds"] = prior_seconds + time.time() - loop_start
        atomic_save(sd, ckpt_path)
        write_grid(trainer.G_ema, outdir / f"grid_{trainer.nimg // 1000:06d}kimg.png")
        last_snapshot = time.time()
        print(f"[train] snapshot ({reason}) at step {trainer.step}", flush=True)

    stop_reason = None
    with StopFlag() as stop, open(log_path, "a") as log_file:
        while True:
            if trainer.nimg >= total_images:
                stop_reason = f"reached {options['kimg']:g} kimg"
            elif deadline is not None and time.time() >= deadline:
                stop_reason = f"reached {options['minutes']:g} minutes"
            elif stop.reason is not None:
                stop_reason = stop.reason
            if stop_reason:
                break
            real = stream.batch(trainer.nimg, options["batch"])
            trainer.train_step(real)
            if trainer.step % options["log_every"] == 0 or trainer.step == loop_start_step + 1:
                stats = trainer.pop_stats()  # syncs: timings below are real
                now = time.time()
                steps = trainer.step - last_log_step
                record = dict(step=trainer.step, kimg=trainer.nimg / 1000, time_s=round(now - start, 2),
                              sec_per_step=(now - last_log_time) / max(steps, 1),
                              img_per_s=steps * options["batch"] / max(now - last_log_time, 1e-9),
                              ema_half_life_kimg=trainer.ema_half_life_images() / 1000, **stats)
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                print("[train] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in record.items()), flush=True)
                last_log_time, last_log_step = now, trainer.step
            if (options["snapshot_steps"] and trainer.step % options["snapshot_steps"] == 0) or \
                    time.time() - last_snapshot >= options["snapshot_minutes"] * 60:
                snapshot("periodic")
        if device.type == "cuda":
            torch.cuda.synchronize()
        loop_seconds = time.time() - loop_start
        snapshot(stop_reason)

    steps_this_run = trainer.step - loop_start_step
    summary = dict(
        command=command, options=options, stop_reason=stop_reason, steps=trainer.step,
        images_seen=trainer.nimg, kimg=trainer.nimg / 1000,
        train_seconds=prior_seconds + loop_seconds, wall_seconds_this_run=time.time() - start,
        sec_per_step_this_run=loop_seconds / max(steps_this_run, 1), hardware=hardware_name(device),
        torch=str(torch.__version__), python=platform.python_version(), seed=options["seed"],
        G_config=trainer.G.config, D_config=trainer.D.config,
    )
    save_generator(trainer.G_ema, outdir / "final.pt", meta=dict(
        source="scripts/train_stylegan2.py", dataset="fashion-mnist (train split, padded to 32x32)",
        **{k: summary[k] for k in ("command", "options", "steps", "images_seen", "train_seconds",
                                    "hardware", "torch", "seed")}))
    write_grid(trainer.G_ema, outdir / "final_samples.png")
    atomic_write_text(json.dumps(summary, indent=2) + "\n", outdir / "provenance.json")
    print(f"[train] done ({stop_reason}): {trainer.step} steps, {trainer.nimg / 1000:.1f} kimg, "
          f"{summary['sec_per_step_this_run']:.3f} s/step; wrote {outdir / 'final.pt'}", flush=True)
    return summary


if __name__ == "__main__":
    main()
