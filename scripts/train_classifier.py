"""Train a bundled Fashion-MNIST classifier and write its weights + provenance record.

The explained classifier (``zoo:fashion-mnist``, a small CNN):

    PYTHONPATH=. python scripts/train_classifier.py --out-dir cfgan/zoo/classifiers

The judge (``zoo:fashion-mnist-judge``, an MLP on raw pixels: a different inductive bias, seed and
augmentation, so that it can tell a genuine change from the CNN's blind spots):

    PYTHONPATH=. python scripts/train_classifier.py --preset judge --out-dir cfgan/zoo/classifiers

Trains on Fashion-MNIST padded to 32x32 (grayscale, inputs in [-1, 1]) with a one-cycle learning rate and
light augmentation, for a fixed number of epochs (no model selection on the test set). Seeded;
deterministic on CPU for a given thread count, and on CUDA for a given GPU and software stack
(deterministic cuDNN/cuBLAS settings).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cfgan.classifiers import save_classifier
from cfgan.data import FASHION_MNIST_CLASSES, load_fashion_mnist, to_model_range
from cfgan.models import build_architecture
from generators.files import file_sha256

#: the settings that differ between the two bundled classifiers (anything given on the command line wins)
PRESETS = {
    "cnn": dict(arch="fmnist_cnn", name="fashion-mnist", epochs=5, optimizer="sgd", lr=0.1, weight_decay=5e-4,
                max_shift=2, flip=True, noise_std=0.0, seed=0,
                design="four 3x3 conv+BN+ReLU layers with max-pooling and a 128-d embedding"),
    "judge": dict(arch="fmnist_mlp", name="fashion-mnist-judge", epochs=20, optimizer="adamw", lr=2e-3,
                  weight_decay=0.05, max_shift=1, flip=False, noise_std=0.1, seed=7, hidden=512, feature_dim=256,
                  design="an MLP on raw pixels (1024-512-256-10, LayerNorm + GELU, dropout 0.2): no convolution, "
                         "no pooling, no translation equivariance, so it does not share the CNN's inductive "
                         "bias; trained with another optimiser (AdamW), another seed and another augmentation "
                         "(no flips, 1-pixel shifts, Gaussian pixel noise). It judges paths of the CNN: where "
                         "both move to the target the change is in the image, where only the CNN moves the "
                         "path found a blind spot of the CNN"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files (default: system)")
    p.add_argument("--out-dir", default="cfgan/zoo/classifiers", help="where to write the weights and the JSON record")
    p.add_argument("--preset", default="cnn", choices=sorted(PRESETS),
                   help="cnn: the explained classifier (zoo:fashion-mnist); judge: the MLP judge "
                        "(zoo:fashion-mnist-judge). The options below override the preset")
    p.add_argument("--arch", default=None, choices=["fmnist_cnn", "fmnist_mlp"])
    p.add_argument("--name", default=None, help="zoo name: writes NAME.pt and NAME.json")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", default=None, choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, default=None, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--width", type=int, default=32, help="fmnist_cnn: channels of the first conv stage")
    p.add_argument("--hidden", type=int, default=None, help="fmnist_mlp: size of the first hidden layer "
                   "(judge preset: 512)")
    p.add_argument("--feature-dim", type=int, default=None,
                   help="size of the penultimate layer (default 128 for the CNN, 256 for the judge MLP)")
    p.add_argument("--max-shift", type=int, default=None, help="largest random translation in pixels")
    p.add_argument("--flip", default=None, action=argparse.BooleanOptionalAction, help="random horizontal flips")
    p.add_argument("--noise-std", type=float, default=None, help="Gaussian pixel noise (in [-1, 1] units)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training images (smoke tests)")
    args = p.parse_args(argv)
    preset = PRESETS[args.preset]
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.feature_dim is None:
        args.feature_dim = 128 if args.arch == "fmnist_cnn" else 256
    if args.hidden is None:
        args.hidden = 512
    if args.name != preset["name"] or args.arch != preset["arch"]:
        args.design = f"{args.arch} (custom)"
    return args


def augment(x: torch.Tensor, max_shift: int, gen: torch.Generator, flip: bool = True,
            noise_std: float = 0.0) -> torch.Tensor:
    """Random horizontal flips, integer shifts and Gaussian pixel noise. The 32x32 canvas has a 2-pixel black
    border around the 28x28 garment, so a circular shift of <= 2 pixels is an exact translation."""
    n, _, h, w = x.shape
    if flip:
        flipped = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flipped.view(n, 1, 1, 1), x.flip(3), x)
    if max_shift:
        dy = torch.randint(-max_shift, max_shift + 1, (n,), generator=gen)
        dx = torch.randint(-max_shift, max_shift + 1, (n,), generator=gen)
        rows = (torch.arange(h).view(1, h) - dy.view(n, 1)) % h
        cols = (torch.arange(w).view(1, w) - dx.view(n, 1)) % w
        x = x.gather(2, rows.view(n, 1, h, 1).expand(n, 1, h, w))
        x = x.gather(3, cols.view(n, 1, 1, w).expand(n, 1, h, w))
    if noise_std > 0:
        x = (x + noise_std * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    return x


@torch.no_grad()
def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    device = next(model.parameters()).device
    preds = torch.cat([model(to_model_range(images[i:i + batch_size].to(device)).contiguous(
        memory_format=torch.channels_last)).argmax(1).cpu() for i in range(0, len(images), batch_size)])
    k = len(FASHION_MNIST_CLASSES)
    confusion = torch.bincount(labels * k + preds, minlength=k * k).view(k, k)
    return (preds == labels).float().mean().item(), confusion


def top_confusions(confusion: torch.Tensor, n: int = 5):
    off = confusion.clone()
    off.fill_diagonal_(0)
    values, flat = off.flatten().topk(n)
    k = confusion.shape[0]
    return [dict(true=FASHION_MNIST_CLASSES[i // k], predicted=FASHION_MNIST_CLASSES[i % k], count=int(v))
            for v, i in zip(values.tolist(), flat.tolist())]


def hardware(device: torch.device) -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    info = dict(device=device.type, cpu=cpu, logical_cores=os.cpu_count(),
                torch_threads=torch.get_num_threads(),
                load_average_at_end=load, torch=torch.__version__, python=platform.python_version(),
                platform=platform.platform())
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        torch.backends.cudnn.benchmark = False
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(args.seed)

    train_x, train_y = load_fashion_mnist("train", args.data, pad_to=32)
    test_x, test_y = load_fashion_mnist("test", args.data, pad_to=32)
    if args.train_limit:
        train_x, train_y = train_x[:args.train_limit], train_y[:args.train_limit]

    arch_kwargs = dict(in_channels=1, num_classes=len(FASHION_MNIST_CLASSES), feature_dim=args.feature_dim,
                       resolution=32)
    arch_kwargs.update(width=args.width) if args.arch == "fmnist_cnn" else arch_kwargs.update(hidden=args.hidden)
    model = build_architecture(args.arch, **arch_kwargs).to(device, memory_format=torch.channels_last)
    steps_per_epoch = len(train_x) // args.batch_size  # drop the last partial batch (BN needs > 1 sample)
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                              weight_decay=args.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.25)
    history = []
    start, cpu_start = time.time(), time.process_time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            x = augment(to_model_range(train_x[idx]), args.max_shift, gen, args.flip, args.noise_std).to(
                device, memory_format=torch.channels_last)
            y = train_y[idx].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
        history.append(dict(epoch=epoch + 1, train_loss=round(loss_sum / total, 4),
                            train_accuracy=round(correct / total, 4),
                            elapsed_s=round(time.time() - start, 1)))
        print(json.dumps(history[-1]), flush=True)
    train_time = time.time() - start
    accuracy, confusion = evaluate(model, test_x, test_y)
    wall_time, cpu_time = time.time() - start, time.process_time() - cpu_start

    model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    out_dir = Path(args.out_dir)
    summary = dict(test_accuracy=round(accuracy, 4), epochs=args.epochs, seed=args.seed,
                   trained_with="scripts/train_classifier.py")
    weights_name = f"{args.name}.pt"
    weights = save_classifier(out_dir / weights_name, model, args.arch, arch_kwargs,
                              preprocessing=dict(input_range=[-1.0, 1.0], size=[32, 32], channels=1),
                              class_names=FASHION_MNIST_CLASSES, meta=summary)
    record = dict(
        name=args.name, weights=weights_name, weights_bytes=weights.stat().st_size,
        sha256=file_sha256(weights), arch=args.arch, arch_kwargs=arch_kwargs, design=args.design,
        parameters=sum(p.numel() for p in model.parameters()),
        data=dict(dataset="Fashion-MNIST", train_images=len(train_x), test_images=len(test_x),
                  preprocessing="28x28 centred on a black 32x32 canvas, grayscale, pixels mapped to [-1, 1]"),
        command="PYTHONPATH=. python scripts/train_classifier.py " + shlex.join(argv or sys.argv[1:]),
        config={k: v for k, v in vars(args).items() if k not in ("data", "out_dir", "design")},
        optimizer=("SGD nesterov momentum 0.9" if args.optimizer == "sgd" else "AdamW")
        + " + OneCycleLR(pct_start=0.25), cross-entropy",
        augmentation=", ".join(part for part in (
            "horizontal flip p=0.5" if args.flip else "no flips", f"integer shifts up to {args.max_shift} px",
            f"Gaussian pixel noise std {args.noise_std}" if args.noise_std > 0 else "") if part),
        epochs=args.epochs, train_time_s=round(train_time, 1), wall_time_s=round(wall_time, 1),
        process_cpu_time_s=round(cpu_time, 1), hardware=hardware(device), test_accuracy=round(accuracy, 4),
        per_class_accuracy={c: round(confusion[i, i].item() / max(1, confusion[i].sum().item()), 4)
                            for i, c in enumerate(FASHION_MNIST_CLASSES)},
        top_confusions=top_confusions(confusion), confusion_matrix=confusion.tolist(),
        confusion_matrix_axes="rows: true class, columns: predicted class (FASHION_MNIST_CLASSES order)",
        history=history,
    )
    record_path = out_dir / f"{args.name}.json"
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"test accuracy {accuracy:.4f}; wall time {wall_time:.0f}s; wrote {weights} "
          f"({record['weights_bytes']} bytes) and {record_path}")
    return record


if __name__ == "__main__":
    main()
