"""Training a StyleGAN2 generator from scratch, on images given as a uint8 tensor.

The recipe is the StyleGAN2 paper's (as in stylegan2-ada-pytorch, without augmentation):
  * non-saturating logistic losses: G minimises softplus(-D(G(z))), D minimises softplus(D(fake)) +
    softplus(-D(real));
  * lazy R1 on reals: every ``r1_interval`` steps, gamma / 2 * |grad_x D(x)|^2, scaled by the interval;
  * style mixing: with probability ``style_mixing`` the W+ entries from a random layer on come from a
    second z, so that layers do not learn to rely on their neighbours' codes;
  * an exponential moving average of G (half-life ``ema_kimg`` thousand images, at most ``ema_rampup``
    times the images seen so far) is the generator that gets saved;
  * Adam(0, 0.99), with lr and beta2 corrected for the lazily applied regularisers;
  * optional path-length regularisation (``pl_weight``), also lazy.

``run`` is a whole time-boxable, resumable run into a folder: ``checkpoint.pt`` (everything needed to
continue: networks, optimisers, RNG states; rewritten atomically), ``log.jsonl``, ``provenance.json`` and
``final.pt``, the EMA generator in the native ``generators.save`` format. Loading the checkpoint never
executes code (``torch.load(weights_only=True)``). This module knows no data sets or image files: the
caller passes the images, and a ``write_samples(G, path)`` hook if it wants sample grids.
"""
from __future__ import annotations

import copy
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
import torch.nn.functional as F

from generators.loaders import save
from generators.stylegan2.discriminator import Discriminator
from generators.stylegan2.generator import StyleGAN2Generator

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "cfgan.train_checkpoint"
#: seed of the z behind every sample grid, so that grids of one run, and of different runs, are comparable
GRID_SEED = 0

#: Hyper-parameter presets; each key is also an option of scripts/train_stylegan2.py.
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
#: Options that steer a run rather than define the model: a resumed run may change these, and only these.
RUN_CONTROL = ("kimg", "minutes", "outdir", "data", "snapshot_minutes", "snapshot_steps", "log_every",
               "device", "resume", "threads")
#: What a run needs besides the hyper-parameters, with the defaults of the command line.
RUN_DEFAULTS = dict(minutes=None, resume=False, seed=0, device=None, snapshot_minutes=2.0, snapshot_steps=0,
                    log_every=100, threads=None, data=None)


class TrainingSetupError(ValueError):
    """Options, data or checkpoint that a run cannot start from; the message says which and why."""


def options_for(preset: str = "cpu", **overrides) -> dict:
    """A complete option dict: run defaults, common defaults, the preset, then ``overrides``."""
    if preset not in PRESETS:
        raise TrainingSetupError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return {**RUN_DEFAULTS, **COMMON_DEFAULTS, **PRESETS[preset], "config": preset, **overrides}


def check_options(options: dict) -> None:
    problems = []
    batch, group = options["batch"], options["mbstd_group"]
    if batch < 1:
        problems.append(f"batch must be >= 1, got {batch}")
    elif batch % min(group, batch):
        problems.append(f"batch {batch} must be divisible by mbstd_group {group}")
    if not options["kimg"] > 0:
        problems.append(f"kimg must be > 0, got {options['kimg']}")
    if options["minutes"] is not None and not options["minutes"] > 0:
        problems.append("minutes must be > 0")
    if min(options["r1_interval"], options["pl_interval"]) < 1:
        problems.append("regularisation intervals must be >= 1")
    if not 0 <= options["style_mixing"] <= 1:
        problems.append("style_mixing must be a probability in [0, 1]")
    if options["log_every"] < 1:
        problems.append("log_every must be >= 1")
    if problems:
        raise TrainingSetupError("; ".join(problems))


# -- networks and optimisers ---------------------------------------------------------------------------
def build_networks(options: dict, resolution: int, channels: int):
    """(G, D) for images [N, channels, resolution, resolution] as the options describe them."""
    shared = dict(channel_base=options["channel_base"], channel_max=options["channel_max"],
                  num_fp16_res=options["num_fp16_res"], conv_clamp=options["conv_clamp"])
    G = StyleGAN2Generator(
        z_dim=options["z_dim"], c_dim=0, w_dim=options["w_dim"], img_resolution=resolution, img_channels=channels,
        mapping_kwargs=dict(num_layers=options["map_layers"], lr_multiplier=options["map_lr_mult"]),
        synthesis_kwargs=dict(architecture=options["g_arch"], **shared))
    D = Discriminator(c_dim=0, img_resolution=resolution, img_channels=channels, architecture=options["d_arch"],
                      epilogue_kwargs=dict(mbstd_group_size=options["mbstd_group"]), **shared)
    return G, D


def lazy_adam(module: torch.nn.Module, lr: float, reg_interval: Optional[int], device) -> torch.optim.Adam:
    """Adam(0, 0.99) for a network whose regulariser runs every ``reg_interval`` steps.

    Each interval makes interval + 1 optimiser steps where it used to make interval, so lr and the
    second-moment decay are scaled by interval / (interval + 1) to keep the same per-image dynamics.
    """
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8,
                            **(dict(fused=True) if device.type == "cuda" else {}))


# -- losses and regularisers -----------------------------------------------------------------------------
def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: -log sigmoid(D(G(z))), which keeps gradients alive while D wins."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """-log(1 - sigmoid(D(fake))) - log sigmoid(D(real))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(D: torch.nn.Module, real: torch.Tensor) -> torch.Tensor:
    """|grad_x D(x)|^2 per real image, differentiable with respect to D's weights."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3])


def path_lengths(img: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """|J_w^T y| per sample for a random image-space direction y of unit expected norm per pixel."""
    direction = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * direction).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


def mix_styles(G: StyleGAN2Generator, z: torch.Tensor, probability: float, update_w_avg: bool = True):
    """W+ codes for z where, with the given probability, the entries from a random cut on come from a
    second, fresh z. Decided on the device with a mask, so training never waits for the host."""
    ws = G.mapping(z, None, update_w_avg=update_w_avg)
    if probability <= 0:
        return ws
    count = ws.shape[1]
    cut = torch.randint(1, max(count, 2), [], device=ws.device)
    cut = torch.where(torch.rand([], device=ws.device) < probability, cut, torch.full_like(cut, count))
    other = G.mapping(torch.randn_like(z), None, update_w_avg=False)
    from_other = (torch.arange(count, device=ws.device) >= cut)[None, :, None]
    return torch.where(from_other, other, ws)


# -- data -------------------------------------------------------------------------------------------------
class ImageStream:
    """Batches from uint8 images [N, C, H, W], reshuffled every epoch.

    The order is a function of (seed, images shown) alone, so a resumed run continues the same sequence
    without saving any sampler state. The images live on the device as uint8.
    """

    def __init__(self, images: torch.Tensor, seed: int, device):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TrainingSetupError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        self.images = images.to(device)
        self.seed = seed
        self._order = (None, None)  # (epoch, permutation)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._order[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(len(self.images), generator=g).to(self.images.device))
        return self._order[1]

    def batch(self, first: int, size: int) -> torch.Tensor:
        """Images number ``first`` .. ``first + size - 1`` of the endless shuffled stream, in [-1, 1]."""
        count = len(self.images)
        pieces, position, end = [], first, first + size
        while position < end:  # a batch may straddle the end of an epoch
            epoch, offset = divmod(position, count)
            take = min(count - offset, end - position)
            pieces.append(self._permutation(epoch)[offset:offset + take])
            position += take
        return self.images[torch.cat(pieces)].float() / 127.5 - 1.0


# -- the training step ------------------------------------------------------------------------------------
class Trainer:
    """G, D, the EMA generator, their optimisers and the training step; I/O only through ``state_dict``."""

    def __init__(self, options: dict, resolution: int, channels: int, device):
        self.options = options
        self.device = device
        self.G, self.D = build_networks(options, resolution, channels)
        self.G.train().to(device)
        self.D.train().to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.r1_every = options["r1_interval"] if options["r1_gamma"] > 0 else None
        self.pl_every = options["pl_interval"] if options["pl_weight"] > 0 else None
        self.opt_G = lazy_adam(self.G, options["lr"], self.pl_every, device)
        self.opt_D = lazy_adam(self.D, options["lr"], self.r1_every, device)
        self.pl_mean = torch.zeros([], device=device)  # running mean of the path lengths
        self.step = 0  # completed training steps
        self.nimg = 0  # real images shown to D
        self._sums = {}  # statistic -> (device-side sum, count): no host sync until pop_stats()

    def _record(self, name: str, value: torch.Tensor) -> None:
        total, count = self._sums.get(name, (0.0, 0))
        self._sums[name] = (total + value.detach().float(), count + 1)

    def pop_stats(self) -> dict:
        """Mean of every statistic since the last call (one device sync)."""
        means = {name: float(total / count) for name, (total, count) in self._sums.items()}
        self._sums = {}
        return means

    def generate(self, batch: int, update_w_avg: bool = True):
        """(images, W+ codes) for fresh z, style-mixed and with random noise, as in training."""
        z = torch.randn(batch, self.G.z_dim, device=self.device)
        ws = mix_styles(self.G, z, self.options["style_mixing"], update_w_avg=update_w_avg)
        return self.G.synthesis(ws, noise_mode="random"), ws

    def _flip(self, real: torch.Tensor) -> torch.Tensor:
        if not self.options["xflip"]:
            return real
        mirrored = torch.rand(real.shape[0], 1, 1, 1, device=real.device) < 0.5
        return torch.where(mirrored, real.flip(3), real)

    @staticmethod
    def _descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def train_step(self, real: torch.Tensor) -> None:
        """One iteration in the official phase order: G, [G path length], D, [D R1]; then the EMA."""
        batch = real.shape[0]
        o = self.options

        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        loss = generator_loss(self.D(self.generate(batch)[0]))
        self._descend(self.opt_G, loss)
        self._record("loss_G", loss)
        if self.pl_every and self.step % self.pl_every == 0:
            self._regularise_path_length(batch)

        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake = self.generate(batch)[0]
        real = self._flip(real)
        fake_logits, real_logits = self.D(fake), self.D(real)
        loss = discriminator_loss(fake_logits, real_logits)
        self._descend(self.opt_D, loss)
        self._record("loss_D", loss)
        self._record("D_real", real_logits.mean())
        self._record("D_fake", fake_logits.mean())
        if self.r1_every and self.step % self.r1_every == 0:
            penalty = r1_penalty(self.D, real)
            self._descend(self.opt_D, penalty.mean() * (o["r1_gamma"] / 2) * self.r1_every)
            self._record("r1_penalty", penalty.mean())
        self.D.requires_grad_(False)

        self.step += 1
        self.nimg += batch
        self._update_ema(batch)

    def _regularise_path_length(self, batch: int) -> None:
        img, ws = self.generate(max(batch // 2, 1))
        lengths = path_lengths(img, ws)
        target = self.pl_mean.lerp(lengths.mean(), 0.01)
        self.pl_mean.copy_(target.detach())
        penalty = (lengths - target).square().mean()
        self._descend(self.opt_G, penalty * self.options["pl_weight"] * self.pl_every)
        self._record("pl_penalty", penalty)

    def ema_half_life_images(self) -> float:
        half_life = self.options["ema_kimg"] * 1000
        rampup = self.options["ema_rampup"]
        return min(half_life, self.nimg * rampup) if rampup is not None and rampup > 0 else half_life

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        keep = 0.5 ** (batch / max(self.ema_half_life_images(), 1e-8))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1.0 - keep)
        for mine, theirs in zip(self.G_ema.buffers(), self.G.buffers()):
            mine.copy_(theirs)

    # -- checkpoint --------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return dict(
            format=CHECKPOINT_FORMAT, version=1, options=self.options, step=self.step, nimg=self.nimg,
            G_config=self.G.config, D_config=self.D.config,
            G=self.G.state_dict(), D=self.D.state_dict(), G_ema=self.G_ema.state_dict(),
            opt_G=self.opt_G.state_dict(), opt_D=self.opt_D.state_dict(), pl_mean=self.pl_mean,
            rng_cpu=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            rng_device=self.device.type,
        )

    def load_state_dict(self, state: dict) -> None:
        for name in ("G", "D", "G_ema"):
            getattr(self, name).load_state_dict(state[name])
        for optimizer, name in ((self.opt_G, "opt_G"), (self.opt_D, "opt_D")):
            # fused/foreach/capturable describe this device's implementation, not the saving one's
            own = [{k: group.get(k) for k in ("fused", "foreach", "capturable")} for group in optimizer.param_groups]
            optimizer.load_state_dict(state[name])
            for group, flags in zip(optimizer.param_groups, own):
                group.update(flags)
        self.pl_mean.copy_(state["pl_mean"])
        self.step, self.nimg = int(state["step"]), int(state["nimg"])
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"])


# -- files ------------------------------------------------------------------------------------------------
def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary sibling, then rename: an interrupted write never leaves a broken file."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def save_checkpoint(state: dict, path: Path) -> None:
    _replace_atomically(path, lambda tmp: torch.save(state, tmp))


def read_checkpoint(path: Path) -> dict:
    """A checkpoint written by ``save_checkpoint``, loaded without executing anything."""
    if not path.is_file():
        raise TrainingSetupError(f"resume was asked for but {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any load failure means an unusable file
        raise TrainingSetupError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingSetupError(f"{path} is not a StyleGAN2 training checkpoint")
    return state


def resumed_options(saved: dict, requested: dict, explicit: Iterable[str]) -> dict:
    """The checkpoint's hyper-parameters with this run's run-control options; an explicitly requested
    hyper-parameter that differs from the checkpoint is an error (a resumed run stays one run)."""
    conflicts = sorted(k for k in explicit if k not in RUN_CONTROL and requested.get(k) != saved.get(k))
    if conflicts:
        raise TrainingSetupError(
            "a resumed run keeps the hyper-parameters of its checkpoint; these options differ from it: "
            + ", ".join(f"{k}={requested.get(k)} (checkpoint: {saved.get(k)})" for k in conflicts))
    return {**saved, **{k: requested.get(k, RUN_DEFAULTS.get(k)) for k in RUN_CONTROL}}


def hardware_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


class StopRequest:
    """Turns SIGINT/SIGTERM into a request to stop after the current step (a second SIGINT aborts)."""

    def __init__(self):
        self.reason: Optional[str] = None
        self._saved = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum, frame) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        print(f"[train] {self.reason} received: finishing the step and writing a snapshot", flush=True)

    def __exit__(self, *exc) -> bool:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        return False


# -- a run ----------------------------------------------------------------------------------------------
def run(options: dict, images: torch.Tensor, *, explicit: Iterable[str] = (), command: Optional[str] = None,
        dataset: str = "unnamed", write_samples: Optional[Callable[[StyleGAN2Generator, Path], None]] = None) -> dict:
    """Train into ``options['outdir']`` until ``kimg`` thousand images, ``minutes`` or a signal.

    ``options``: a complete dict (see ``options_for``). ``images``: uint8 [N, C, H, W], H == W a power of
    two. With ``options['resume']`` the run continues ``<outdir>/checkpoint.pt``; ``explicit`` names the
    options the user set on purpose, which must then agree with the checkpoint. Returns the summary that
    is also written to ``provenance.json``. ``command`` and ``dataset`` describe the run in the saved
    generator's metadata.
    """
    start = time.time()
    threads = torch.get_num_threads()
    if options.get("threads"):
        torch.set_num_threads(options["threads"])
    try:
        return _Run(options, images, explicit, command, dataset, write_samples, start).loop()
    finally:
        torch.set_num_threads(threads)  # leave torch as it was found: run() may be called from other code


class _Run:
    def __init__(self, options, images, explicit, command, dataset, write_samples, start):
        self.start = start
        self.dataset = dataset
        self.outdir = Path(options["outdir"])
        self.checkpoint = self.outdir / CHECKPOINT_NAME
        self.command = command or "python scripts/train_stylegan2.py " + " ".join(sys.argv[1:])
        self.write_samples = write_samples
        state = read_checkpoint(self.checkpoint) if options.get("resume") else None
        if state is not None:
            options = resumed_options(dict(state["options"]), options, explicit)
        check_options(options)
        self.options = options

        self.device = torch.device(options["device"] or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.outdir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(options["seed"])
        self.trainer = Trainer(options, images.shape[-1], images.shape[1], self.device)
        self.stream = ImageStream(images, options["seed"], self.device)
        self.prior_seconds = 0.0
        if state is not None:
            self.trainer.load_state_dict(state)
            self.prior_seconds = float(state.get("train_seconds", 0.0))
            print(f"[train] resumed {self.checkpoint} at step {self.trainer.step} "
                  f"({self.trainer.nimg / 1000:.1f} kimg)", flush=True)

    def _snapshot(self, reason: str) -> None:
        t = self.trainer
        state = t.state_dict()
        state["train_seconds"] = self.prior_seconds + time.time() - self.loop_start
        save_checkpoint(state, self.checkpoint)
        if self.write_samples is not None:
            self.write_samples(t.G_ema, self.outdir / f"grid_{t.nimg // 1000:06d}kimg.png")
        self.last_snapshot = time.time()
        print(f"[train] snapshot ({reason}) at step {t.step}", flush=True)

    def _stop_reason(self, stop: StopRequest, deadline: Optional[float]) -> Optional[str]:
        if self.trainer.nimg >= int(self.options["kimg"] * 1000):
            return f"reached {self.options['kimg']:g} kimg"
        if deadline is not None and time.time() >= deadline:
            return f"reached {self.options['minutes']:g} minutes"
        return stop.reason

    def _log(self, log_file, since: tuple) -> tuple:
        t, o = self.trainer, self.options
        stats = t.pop_stats()  # syncs the device: the timings below are real
        now = time.time()
        steps = t.step - since[1]
        record = dict(step=t.step, kimg=t.nimg / 1000, time_s=round(now - self.start, 2),
                      sec_per_step=(now - since[0]) / max(steps, 1),
                      img_per_s=steps * o["batch"] / max(now - since[0], 1e-9),
                      ema_half_life_kimg=t.ema_half_life_images() / 1000, **stats)
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        print("[train] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in record.items()), flush=True)
        return now, t.step

    def loop(self) -> dict:
        t, o = self.trainer, self.options
        size = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
        print(f"[train] device {hardware_name(self.device)}; G {size(t.G):.2f}M params, D {size(t.D):.2f}M; "
              f"batch {o['batch']}; set-up {time.time() - self.start:.1f}s", flush=True)
        deadline = self.start + o["minutes"] * 60 if o["minutes"] else None
        self.loop_start = self.last_snapshot = time.time()
        first_step = t.step
        since = (time.time(), t.step)
        with StopRequest() as stop, open(self.outdir / "log.jsonl", "a") as log_file:
            while True:
                reason = self._stop_reason(stop, deadline)
                if reason:
                    break
                t.train_step(self.stream.batch(t.nimg, o["batch"]))
                if t.step % o["log_every"] == 0 or t.step == first_step + 1:
                    since = self._log(log_file, since)
                if (o["snapshot_steps"] and t.step % o["snapshot_steps"] == 0) or \
                        time.time() - self.last_snapshot >= o["snapshot_minutes"] * 60:
                    self._snapshot("periodic")
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            loop_seconds = time.time() - self.loop_start
            self._snapshot(reason)
        return self._finish(reason, loop_seconds, t.step - first_step)

    def _finish(self, reason: str, loop_seconds: float, steps: int) -> dict:
        t = self.trainer
        summary = dict(
            command=self.command, options=self.options, stop_reason=reason, steps=t.step, images_seen=t.nimg,
            kimg=t.nimg / 1000, train_seconds=self.prior_seconds + loop_seconds,
            wall_seconds_this_run=time.time() - self.start, sec_per_step_this_run=loop_seconds / max(steps, 1),
            hardware=hardware_name(self.device), torch=str(torch.__version__), python=platform.python_version(),
            seed=self.options["seed"], G_config=t.G.config, D_config=t.D.config,
        )
        meta = dict(source="scripts/train_stylegan2.py", dataset=self.dataset,
                    **{k: summary[k] for k in ("command", "options", "steps", "images_seen", "train_seconds",
                                               "hardware", "torch", "seed")})
        final = self.outdir / "final.pt"
        _replace_atomically(final, lambda tmp: save(copy.deepcopy(t.G_ema).cpu().eval(), tmp, meta=meta))
        if self.write_samples is not None:
            self.write_samples(t.G_ema, self.outdir / "final_samples.png")
        _replace_atomically(self.outdir / "provenance.json",
                            lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
        print(f"[train] done ({reason}): {t.step} steps, {t.nimg / 1000:.1f} kimg, "
              f"{summary['sec_per_step_this_run']:.3f} s/step; wrote {final}", flush=True)
        return summary
