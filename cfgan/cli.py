"""The ``cfgan`` command line. Click only: parse options, build a job, run it, print the outcome.

Every command that produces files runs on the one job runner (``cfgan.jobs``): the output folder is
checked before any work, items are written one by one and atomically, a second run of the same command
resumes, and Ctrl-C stops with exit code 130 after saying what is finished and what is not.
"""
from __future__ import annotations

import json
import os
import re
import sys
import warnings

import click

OVERWRITE_HELP = "replace an existing run in --out made with other settings (default: resume a matching run)"


# -- option parsing ---------------------------------------------------------------------------------------
def _weights(text: str, flag: str) -> dict:
    """``name=weight,name=weight`` (a bare name means weight 1)."""
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value) if value.strip() else 1.0
        except ValueError:
            raise click.BadParameter(f"{part!r} is not NAME=WEIGHT", param_hint=flag) from None
    if not out:
        raise click.BadParameter("no NAME=WEIGHT given", param_hint=flag)
    return out


def _seeds(text: str, flag: str = "--seeds"):
    from cfgan.jobs import JobError
    from cfgan.jobs.items import SeedList

    try:
        return SeedList.parse(text, flag)
    except JobError as err:
        raise click.BadParameter(str(err).split(": ", 1)[-1], param_hint=flag) from None


def _schedule(text: str, frames: int):
    """'linear', 'logodds' or FRAMES fractions rising from 0 to 1, checked before any work starts."""
    from cfgan.paths.monotone import check_schedule

    schedule = text
    if text not in ("linear", "logodds"):
        try:
            schedule = [float(v) for v in text.split(",")]
        except ValueError:
            raise click.BadParameter(f"{text!r} is not linear, logodds or comma-separated numbers",
                                     param_hint="--schedule") from None
    try:
        return check_schedule(schedule, frames)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--schedule") from None


def _device(name: str) -> str:
    import torch

    if name == "auto":  # under torchrun each process takes its own GPU
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise click.BadParameter(f"{name!r} is not a device: use cpu, cuda, cuda:N or auto",
                                 param_hint="--device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA was requested but no CUDA device is available", param_hint="--device")
    if device.type not in ("cpu", "cuda"):
        raise click.BadParameter(f"device type {device.type!r} is not supported: use cpu or cuda",
                                 param_hint="--device")
    return name


def _fail(err: Exception):
    raise click.ClickException(str(err))


def _load_generator(spec: str, device: str):
    import generators

    try:
        return generators.load(spec, device=device)
    except (ValueError, FileNotFoundError, ImportError, TypeError) as err:
        _fail(err)


def _load_classifier(spec: str, device: str, flag: str = "--classifier"):
    from cfgan.classifiers import load_classifier

    try:
        return load_classifier(spec, device=device)
    except (ValueError, FileNotFoundError, ImportError, TypeError) as err:
        _fail(RuntimeError(f"{flag}: {err}"))


def _build(make_job):
    """``make_job()``, with a problem in one option's value (a ``JobError`` saying ``--option: problem``) as a
    click error naming that option, and any other problem as a plain error: never a traceback."""
    from cfgan.classifiers import ClassifierError
    from cfgan.jobs import JobError

    try:
        return make_job()
    except JobError as err:
        option, sep, problem = str(err).partition(": ")
        if sep and re.fullmatch(r"--[a-z][a-z-]*", option):
            raise click.BadParameter(problem, param_hint=option) from None
        _fail(err)
    except (ValueError, FileNotFoundError, ClassifierError) as err:
        _fail(err)


def _run(job, out: str, overwrite: bool, desc: str, page: bool = True):
    """Run ``job`` into ``out`` (and write its report page unless ``page`` is off); print where results
    are (rank 0 only, under torchrun); exit 130 if interrupted."""
    from cfgan.classifiers import ClassifierError
    from cfgan.jobs import JobError, run_job
    from cfgan.jobs.progress import Progress

    try:
        report = run_job(job, out, overwrite=overwrite, progress=Progress(desc), log=click.echo, report=page)
    except (JobError, ValueError, FileNotFoundError, ClassifierError) as err:
        _fail(err)
    if not report.leader:  # under torchrun, rank 0 alone prints where the results are
        sys.exit(report.exit_code)
    if report.page is not None:
        click.echo(f"report: {os.path.abspath(report.page)}")
    where = os.path.abspath(out)
    if report.interrupted:
        click.echo(f"interrupted: {report.done} of {report.total} items finished in {where}"
                   + (f", {report.partial} written as partial" if report.partial else "")
                   + "; run the same command again to resume", err=True)
        sys.exit(report.exit_code)
    return report


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


device_option = click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1 or auto")
overwrite_option = click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
max_images_option = click.option(
    "--max-images", default=None, type=click.IntRange(1),
    help="memory bound: render at most this many images per optimisation pass (gradients accumulate over passes; "
         "same result to float rounding)")
report_option = click.option("--report/--no-report", "page", default=True, show_default=True,
                             help="write OUT/index.html, a page showing the results (also `cfgan report OUT`)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cfgan")
@click.pass_context
def main(ctx):
    """Explain image classifiers with counterfactuals generated by pretrained GANs."""
    # each distinct warning once per command, as one line (restored afterwards for in-process callers)
    ctx.with_resource(warnings.catch_warnings())
    warnings.simplefilter("once")
    warnings.showwarning = _one_line_warnings


@main.command()
@click.argument("generator")
@device_option
@click.option("--json", "as_json", is_flag=True, help="print machine-readable JSON")
def info(generator, device, as_json):
    """Describe GENERATOR (a file, zoo:NAME or module:attr) and which op path is active."""
    from generators import ops

    G = _load_generator(generator, _device(device))
    facts = G.describe()
    facts["source"] = getattr(G, "source", None)
    facts["ops"] = ops.status()
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str))
        return
    for key, value in facts.items():
        if isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{key}: {value}")


@main.command()
@click.option("--generator", "-g", required=True, help="generator file, zoo:NAME or module:attr")
@click.option("--seeds", default="0-15", show_default=True, help="e.g. 0-15 or 1,5,9")
@click.option("--trunc", default=1.0, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="truncation psi")
@click.option("--class", "class_", default=None, type=click.IntRange(0),
              help="class index for conditional generators")
@click.option("--noise-mode", default="const", show_default=True, type=click.Choice(["const", "random", "none"]))
@click.option("--grid/--no-grid", default=True, show_default=True, help="also write grid.png (first 256 seeds)")
@click.option("--out", default="samples", show_default=True, type=click.Path(file_okay=False),
              help="folder for seedNNNNN.png files")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1))
@overwrite_option
@report_option
@device_option
def generate(generator, seeds, trunc, class_, noise_mode, grid, out, batch, overwrite, page, device):
    """Generate one image per seed."""
    from cfgan.jobs.generate import GenerateJob

    seeds = _seeds(seeds)
    G = _load_generator(generator, _device(device))
    try:
        job = GenerateJob(G, seeds, trunc, class_, noise_mode, batch, grid)
    except ValueError as err:
        _fail(err)
    report = _run(job, out, overwrite, "generate", page)
    click.echo(f"wrote {report.done} images" + (" and grid.png" if grid else "") + f" in {os.path.abspath(out)}")


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--generator", "-g", required=True)
@click.option("--space", default="w+", show_default=True, type=click.Choice(["z", "w", "w+"]))
@click.option("--steps", default=500, show_default=True, type=click.IntRange(1))
@click.option("--noise/--no-noise", default=False, show_default=True, help="also optimise the noise maps")
@click.option("--pti/--no-pti", default=False, show_default=True, help="pivotal tuning after projection")
@click.option("--pti-steps", default=350, show_default=True, type=click.IntRange(1))
@click.option("--pti-lr", default=3e-4, show_default=True, type=click.FloatRange(0, min_open=True),
              help="PTI learning rate (the paper's value; small generators such as zoo:fashion-mnist gain more "
                   "from 1e-3)")
@click.option("--mask", default=None, type=click.Path(dir_okay=False, exists=True),
              help="grayscale PNG: white pixels count, black are ignored (in-filled)")
@click.option("--loss", "losses", default="lpips=1,mse=1", show_default=True,
              help="weighted loss terms: lpips, mse, msmse, features (features uses --classifier)")
@click.option("--classifier", default=None, help="classifier whose features the 'features' loss compares")
@click.option("--init", default="mean", show_default=True, type=click.Choice(["mean", "best-of-k"]))
@click.option("--lr", default=0.1, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1), help="images optimised at once")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def invert(images, generator, space, steps, noise, pti, pti_steps, pti_lr, mask, losses, classifier, init, lr,
           batch, seed, out, overwrite, page, device):
    """Project IMAGES into the generator's latent space: per image OUT/<name>/ (recon.png, latents.pt), and
    OUT/latents.pt (all codes, for cross/edit), reconstructions.png and metrics.json."""
    from cfgan.jobs.invert import InvertJob
    from inversion import ProjectionSettings

    device = _device(device)
    settings = ProjectionSettings(space=space, steps=steps, noise=noise, losses=_weights(losses, "--loss"),
                                  init=init, lr=lr, seed=seed, pti=pti, pti_steps=pti_steps, pti_lr=pti_lr)
    try:
        settings.check()
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--loss") from None
    G = _load_generator(generator, device)
    clf = _load_classifier(classifier, device) if classifier else None
    try:
        job = InvertJob(G, list(images), settings, mask, clf, batch)
    except ValueError as err:
        _fail(err)
    report = _run(job, out, overwrite, "invert", page)
    s = report.summary.get("metrics") or {}
    lp = "n/a (no LPIPS weights)" if s.get("lpips") is None else f"{s['lpips']:.4f}"
    click.echo(f"inverted {report.done} images into {space}: mean PSNR {s.get('psnr', float('nan')):.2f} dB, "
               f"LPIPS {lp}")
    click.echo(f"results in {os.path.abspath(out)} (all codes: latents.pt)")


@main.command()
@click.option("--generator", "-g", required=True, help="generator file, zoo:NAME or module:attr")
@click.option("--classifier", "-c", required=True, help="classifier file, zoo:NAME or module:attr")
@click.option("--class", "classes", multiple=True,
              help="class name or index to maximise, repeatable, or 'all'")
@click.option("--layer", default=None, help="classifier layer (module name) whose units --unit picks")
@click.option("--unit", "units", multiple=True, type=click.IntRange(0),
              help="channel (mean activation) or neuron index of --layer, repeatable")
@click.option("--space", default="w", show_default=True, type=click.Choice(["z", "w", "w+"]))
@click.option("--restarts", default=16, show_default=True, type=click.IntRange(1),
              help="random starts per target")
@click.option("--steps", default=100, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=0.1, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--score", default="logprob", show_default=True,
              type=click.Choice(["logprob", "logit", "prob"]), help="what a class target maximises")
@click.option("--prior", default=0.1, show_default=True, type=click.FloatRange(0),
              help="weight keeping codes in the generator's typical region")
@click.option("--diversity", default=0.0, show_default=True, type=click.FloatRange(0),
              help="weight pushing restarts apart")
@click.option("--trunc", default=1.0, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="truncation psi applied when rendering")
@click.option("--clip/--no-clip", default=False, show_default=True,
              help="keep codes within the range seen on random samples")
@click.option("--init", default="best-of-k", show_default=True, type=click.Choice(["random", "best-of-k"]),
              help="start from random codes, or from each target's best of --k random samples")
@click.option("--k", default=256, show_default=True, type=click.IntRange(1), help="candidates for best-of-k")
@click.option("--stop-at", default=None, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="freeze an image once its class probability reaches this (default: maximise fully)")
@click.option("--pixel", is_flag=True, help="also run pixel-space AM (the classic baseline) for comparison")
@click.option("--batch", default=10, show_default=True, type=click.IntRange(1), help="targets optimised at once")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def am(generator, classifier, classes, layer, units, space, restarts, steps, lr, score, prior, diversity,
       trunc, clip, init, k, stop_at, pixel, batch, seed, out, overwrite, page, device):
    """Activation maximisation: what the classifier thinks each class (or unit) looks like, as images on the
    generator's manifold. Writes OUT/<target>/grid.png per target, generator_panel.png, latents.pt, am.json."""
    from cfgan.am import AMSettings
    from cfgan.am.objectives import targets_from_options
    from cfgan.jobs.am import AMJob

    device = _device(device)
    G = _load_generator(generator, device)
    clf = _load_classifier(classifier, device)
    settings = AMSettings(space=space, restarts=restarts, steps=steps, lr=lr, class_score=score, prior=prior,
                          diversity=diversity, truncation_psi=trunc, clip=clip, init=init, k=k, stop_at=stop_at,
                          seed=seed)
    try:
        import torch

        with torch.no_grad():
            probe = G(G.sample_z(1, seed)) if G.c_dim == 0 else None
        job = AMJob(G, clf, targets_from_options(clf, classes, layer, units, probe), settings, pixel, batch=batch)
    except ValueError as err:
        _fail(err)
    report = _run(job, out, overwrite, "am", page)
    for item in report.summary.get("items", []):
        value = (f"mean probability {item['prob_mean']:.4f} (min {item['prob_min']:.4f})"
                 if item.get("prob_mean") is not None else f"mean activation {item['score_mean']:.4g}")
        click.echo(f"  {item['target']}: {value}")
    click.echo(f"results in {os.path.abspath(out)} (panel: generator_panel.png, report: am.json)")


@main.command(name="cross")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--seed", "subject_seeds", default=None, help="start from generated seeds instead: 5, 0-7 or 1,5,9")
@click.option("--latents", default=None, type=click.Path(dir_okay=False),
              help="start from a latent file written by `cfgan invert` instead of images")
@click.option("--generator", "-g", required=True, help="generator file, zoo:NAME or module:attr")
@click.option("--classifier", "-c", required=True, help="classifier file, zoo:NAME or module:attr")
@click.option("--target", required=True, help="class to cross into (name or index)")
@click.option("--source", default=None, help="class the subjects start in (name or index), for the report")
@click.option("--frames", default=16, show_default=True, type=click.IntRange(2))
@click.option("--method", default="regularized", show_default=True,
              type=click.Choice(["ascent", "regularized", "blackbox"]))
@click.option("--space", default="w+", show_default=True, type=click.Choice(["z", "w", "w+"]))
@click.option("--end-prob", default=0.9, show_default=True, type=click.FloatRange(0.5, 1, max_open=True),
              help="how far past the boundary a path ends (probability of the target)")
@click.option("--schedule", default="linear", show_default=True,
              help="how frames are spaced in the target's probability: linear, logodds, or one comma-separated "
                   "fraction per frame rising from 0 to 1 (e.g. 0,0.1,0.3,0.5,0.7,0.9,1 for --frames 7)")
@click.option("--lambda", "lam", default=None, type=click.FloatRange(0, min_open=True),
              help="identity weight (regularized); default: the largest that still crosses, searched")
@click.option("--identity", default=None, help="regularized identity terms, e.g. latent=1,pixel=1 (also lpips)")
@click.option("--steps", default=None, type=click.IntRange(1), help="optimisation steps (method default)")
@click.option("--lr", default=None, type=click.FloatRange(0, min_open=True),
              help="step size in units of the code spread (method default)")
@click.option("--query-budget", default=None, type=click.IntRange(1),
              help="blackbox: classifier queries per path (default 2000)")
@click.option("--invert-steps", default=300, show_default=True, type=click.IntRange(1))
@click.option("--invert-agreement", default=0.1, show_default=True, type=click.FloatRange(0),
              help="weight keeping each inverted image classified like the image (0: plain inversion)")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1), help="subjects optimised at once")
@click.option("--random-seed", default=0, show_default=True, type=int,
              help="seed of inversion, blackbox noise and restarts")
@click.option("--lpips/--no-lpips", default=True, show_default=True, help="report LPIPS identity distances")
@click.option("--judge", "judges", multiple=True,
              help="an independent classifier (file, zoo:NAME or module:attr; repeatable) that sees every frame; "
                   "each crossed path is labelled genuine (every judge calls the last frame the target), "
                   "blind-spot (none does) or mixed (some do), e.g. --judge zoo:fashion-mnist-judge")
@click.option("--require-judges", is_flag=True,
              help="keep the judges moving with the classifier: their target log-odds join the objective and a "
                   "path ends only once every judge calls it the target (needs --judge)")
@click.option("--paths-per-image", default=1, show_default=True, type=click.IntRange(1),
              help="several different explanations per subject: K paths pushed apart, ranked by identity distance")
@click.option("--diversity", default=5.0, show_default=True, type=click.FloatRange(0),
              help="with --paths-per-image: weight pushing a subject's paths apart (0: independent restarts)")
@click.option("--search", "lam_search", default=None, type=click.Choice(["adaptive", "bisection"]),
              help="regularized: how the identity weight is found (default adaptive; bisection: the original, "
                   "about 4x slower)")
@max_images_option
@click.option("--max-memory-mb", default=None, type=click.IntRange(1),
              help="memory bound: what autograd keeps per pass, sized from the first pass")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def cross_command(images, subject_seeds, latents, generator, classifier, target, source, frames, method, space,
                  end_prob, schedule, lam, identity, steps, lr, query_budget, invert_steps, invert_agreement, batch,
                  random_seed, lpips, judges, require_judges, paths_per_image, diversity, lam_search, max_images,
                  max_memory_mb, out, overwrite, page, device):
    """Decision-crossing paths: frames along which the classifier's probability of TARGET rises
    monotonically across its decision boundary while the subject stays itself. Starts from IMAGES (inverted
    first), --seed or --latents; writes frames, path.mp4/gif, filmstrip, plot, change map, latents and
    report.json per path into OUT/<name>/ and OUT/summary.json."""
    from cfgan.jobs.cross import CrossJob

    options = {"end_prob": end_prob, "schedule": _schedule(schedule, frames)}
    for name, value, methods in (("steps", steps, None), ("lr", lr, None), ("lam", lam, ("regularized",)),
                                 ("query_budget", query_budget, ("blackbox",))):
        if value is None:
            continue
        if methods and method not in methods:
            flag = {"lam": "--lambda", "query_budget": "--query-budget"}[name]
            raise click.BadParameter(f"{flag} applies to --method {'/'.join(methods)} only", param_hint=flag)
        options[name] = value
    if identity is not None:
        if method != "regularized":
            raise click.BadParameter("--identity applies to --method regularized only", param_hint="--identity")
        options["identity"] = _weights(identity, "--identity")
    if lam_search is not None:
        if method != "regularized":
            raise click.BadParameter("--search applies to --method regularized only", param_hint="--search")
        options["search"] = lam_search
    if require_judges and not judges:
        raise click.BadParameter("--require-judges needs at least one --judge", param_hint="--require-judges")
    if require_judges and method == "blackbox":
        raise click.BadParameter("--require-judges needs gradients; --method blackbox has none (judges still label "
                                 "black-box paths without it)", param_hint="--require-judges")
    if (paths_per_image > 1 or require_judges) and method == "regularized" and (lam is not None
                                                                            or lam_search == "bisection"):
        flag = "--paths-per-image" if paths_per_image > 1 else "--require-judges"
        raise click.BadParameter(f"{flag} needs the adaptive identity-weight search: drop --lambda / --search "
                                 "bisection", param_hint=flag)
    seeds = _seeds(subject_seeds, "--seed") if subject_seeds is not None else None
    memory = None
    if max_images is not None or max_memory_mb is not None:
        from inversion import MemoryBound

        memory = MemoryBound(max_items=max_images,
                             max_bytes=None if max_memory_mb is None else max_memory_mb * 2 ** 20)
    device = _device(device)
    G = _load_generator(generator, device)
    clf = _load_classifier(classifier, device)
    judge_models = [_load_classifier(spec, device, "--judge") for spec in judges]
    try:
        job = CrossJob(G, clf, target, source, images=list(images), seeds=seeds, latents=latents, method=method,
                       frames=frames, space=space, batch=batch, seed=random_seed, invert_steps=invert_steps,
                       invert_agreement=invert_agreement, lpips=lpips, judges=judge_models,
                       require_judges=require_judges, paths_per_image=paths_per_image, diversity=diversity,
                       memory=memory, **options)
    except ValueError as err:
        _fail(err)
    report = _run(job, out, overwrite, "cross", page)
    s = report.summary
    click.echo(f"{s.get('crossed', 0)}/{s.get('paths', 0)} paths crossed, {s.get('monotone', 0)} monotone "
               f"({method}, {frames} frames); results in {os.path.abspath(out)}")
    if s.get("labels"):
        labels = s["labels"]
        click.echo(f"judges ({', '.join(s.get('judges', []))}): {labels['genuine']} genuine, "
                   f"{labels['blind-spot']} blind-spot, {labels['mixed']} mixed, {labels['not-crossed']} not crossed")


@main.command(name="edit")
@click.argument("latent_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--generator", "-g", required=True, help="generator file, zoo:NAME or module:attr")
@click.option("--classifier", "-c", required=True, help="classifier file, zoo:NAME or module:attr")
@click.option("--direction", required=True,
              help="class:NAME (the classifier's gradient at each image), boundary:NAME (NAME vs the rest), "
                   "'boundary:A->B', pca:K (K-th principal component of W) or a .npy/.pt file")
@click.option("--strengths", default="-3:3:7", show_default=True,
              help="START:STOP:COUNT or a comma list, in sigma (standard deviations of W along the edit)")
@click.option("--layers", default="all", show_default=True,
              help="W+ rows to edit: all, coarse, middle, fine, or rows like 0-5 or 0-2,6")
@click.option("--keep", multiple=True, help="a direction (same forms) whose attribute stays fixed, repeatable")
@click.option("--target", default=None, help="class whose crossing is reported (default: the direction's own)")
@click.option("--samples", default=4000, show_default=True, type=click.IntRange(10),
              help="generated samples a boundary direction is fitted on")
@click.option("--refine", default=6, show_default=True, type=click.IntRange(0),
              help="bisection rounds locating each crossing strength between frames")
@click.option("--fps", default=4.0, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--videos/--no-videos", default=True, show_default=True, help="an mp4 and a gif per image")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1), help="images edited at once")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the boundary samples and PCA")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def edit_command(latent_file, generator, classifier, direction, strengths, layers, keep, target, samples, refine,
                 fps, videos, batch, seed, out, overwrite, page, device):
    """Latent edits: move the codes of LATENT_FILE (from invert, cross or am) along one direction at each
    strength and classify every frame. Writes per image OUT/<name>/ (frames, filmstrip, edit.mp4/gif, latents,
    report.json) and OUT/latents.pt, grid.png, grid_labelled.png, direction.pt and edit.json."""
    from cfgan.jobs.edit import EditJob

    device = _device(device)
    G = _load_generator(generator, device)
    clf = _load_classifier(classifier, device)
    job = _build(lambda: EditJob(G, clf, latent_file, direction, strengths, layers, keep, target, n_samples=samples,
                                 seed=seed, refine=refine, fps=fps, videos=videos, batch=batch, log=click.echo))
    s = _run(job, out, overwrite, "edit", page).summary
    eligible = s["done"] - s.get("already_target", 0)
    into = f" into {s['target']}" if s.get("target") else " out of their start class"
    median = s.get("median_crossing_strength")
    click.echo(f"{s.get('crossed', 0)}/{eligible} images crossed{into}"
               + (f" (median strength {median:+.2f} sigma)" if median is not None else "")
               + f"; results in {os.path.abspath(out)} (grid_labelled.png, edit.json)")


@main.command()
@click.option("--generator", "-g", required=True, help="generator file, zoo:NAME or module:attr")
@click.option("--classifier", "-c", required=True, help="classifier file, zoo:NAME or module:attr")
@click.option("--depth", default=4, show_default=True, type=click.IntRange(1, 8), help="depth of the drawn tree")
@click.option("--directions", default="boundary", show_default=True, type=click.Choice(["boundary", "pca"]),
              help="features: one fitted boundary per class vs the rest, or W's first --k principal components")
@click.option("--k", default=8, show_default=True, type=click.IntRange(1), help="PCA components (--directions pca)")
@click.option("--samples", default=4000, show_default=True, type=click.IntRange(10),
              help="generated samples, rendered and classified (a quarter held out to measure fidelity)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def surrogate(generator, classifier, depth, directions, k, samples, seed, out, overwrite, page, device):
    """A global surrogate: a shallow decision tree that predicts the classifier from a few latent directions,
    its fidelity by depth on held-out samples, and each split drawn as an edit. Writes OUT/surrogate.json,
    tree.png, strips/node_XX.png and directions.pt."""
    from cfgan.jobs.surrogate import SurrogateJob

    device = _device(device)
    G = _load_generator(generator, device)
    clf = _load_classifier(classifier, device)
    job = _build(lambda: SurrogateJob(G, clf, directions, k=k, depth=depth, n_samples=samples, seed=seed))
    s = _run(job, out, overwrite, "surrogate", page).summary
    fidelity = s["fidelity_by_depth"][str(depth)]["held_out"]
    click.echo(f"depth-{depth} tree over {len(s['features'])} {directions} directions agrees with the classifier on "
               f"{fidelity:.1%} of held-out samples (majority baseline {s['majority_baseline']:.1%}); "
               f"results in {os.path.abspath(out)} (tree.png, surrogate.json)")


def _option_values(pairs, flag: str = "--option") -> dict:
    """``NAME=VALUE`` pairs (repeatable) as a dict; values read as JSON where they parse (numbers, true, null)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint=flag)
        try:
            out[name.strip()] = json.loads(value)
        except ValueError:
            out[name.strip()] = value
    return out


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--method", "-m", required=True,
              help="fido, meaningful, mip, mip-lp, gradient, integrated-gradients, smoothgrad, occlusion, lime, "
                   "guided-backprop or deeplift")
@click.option("--classifier", "-c", required=True, help="classifier file, zoo:NAME or module:attr")
@click.option("--generator", "-g", default=None, help="generator for FIDO's GAN in-fill (e.g. zoo:fashion-mnist)")
@click.option("--target", default=None, help="class to explain, name or index (default: each image's prediction)")
@click.option("--option", "options", multiple=True, help="a method option NAME=VALUE, repeatable (e.g. steps=100)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-batch", default=None, type=click.IntRange(1),
              help="memory bound: at most this many images (samples, in-fills, perturbations) per pass")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1), help="images explained at once")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def saliency(images, method, classifier, generator, target, options, seed, max_batch, batch, out, overwrite, page,
             device):
    """Saliency maps: which pixels the classifier's decision rests on, by one METHOD. Writes per image
    OUT/<name>/overlay.png (input | map | both), map.npy (higher = more important) and saliency.json."""
    from cfgan.jobs.saliency import SaliencyJob

    device = _device(device)
    clf = _load_classifier(classifier, device)
    G = _load_generator(generator, device) if generator else None
    job = _build(lambda: SaliencyJob(clf, method, list(images), G, target, seed, max_batch, batch,
                                     _option_values(options)))
    s = _run(job, out, overwrite, "saliency", page).summary
    per = s.get("seconds_per_image")
    click.echo(f"{s.get('done', 0)} {method} maps" + (f" ({per:.2f} s per image)" if per is not None else "")
               + f"; results in {os.path.abspath(out)}")


@main.command()
@click.option("--classifier", "-c", required=True, help="classifier file, zoo:NAME or module:attr")
@click.option("--methods", required=True, help="comma-separated saliency methods, e.g. gradient,occlusion,fido")
@click.option("--images", required=True, help="folder of image files (name order)")
@click.option("--generator", "-g", default=None,
              help="generator for the GAN fill of the flip test and for FIDO (without it: no GAN fill)")
@click.option("--limit", "max_images", default=None, type=click.IntRange(1),
              help="use only the first N images of the folder (as in augment; --max-images is a memory bound)")
@click.option("--fills", default="gray,black,white,gan", show_default=True,
              help="pixel-flip fills: gray, black, white, gan")
@click.option("--robustness/--no-robustness", default=True, show_default=True,
              help="attack each map (Ghorbani) and measure captum's sensitivity-max")
@click.option("--robustness-images", default=None, type=click.IntRange(1),
              help="attack only the first N images (the attack and sensitivity cost each method ~8 more calls)")
@click.option("--k", default=100, show_default=True, type=click.IntRange(1), help="top-k pixels compared")
@click.option("--eps", default=None, type=click.FloatRange(0, min_open=True),
              help="attack budget (L-inf, [-1, 1] units; default 16/255 = 8/255 of [0, 1])")
@click.option("--option", "options", multiple=True,
              help="a method option METHOD.NAME=VALUE, repeatable (e.g. fido.steps=50)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-batch", default=64, show_default=True, type=click.IntRange(1),
              help="memory bound: images per classifier / method pass")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1), help="images per method call")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def evaluate(classifier, methods, images, generator, max_images, fills, robustness, robustness_images, k, eps,
             options, seed, max_batch, batch, out, overwrite, page, device):
    """Compare saliency METHODS on a folder of images: pixel-flip curves, deletion/insertion AUC, robustness
    (top-k overlap, rank correlation, sensitivity-max) and seconds per image. Writes OUT/evaluation.csv,
    evaluation.png (a curve per method) and evaluation.json; a map per (method, image)."""
    from cfgan.jobs.evaluate import EvaluateJob
    from cfgan.saliency.evaluation import EvalSettings

    per_method: dict = {}
    for name, value in _option_values(options).items():
        method, dot, option = name.partition(".")
        if not dot:
            raise click.BadParameter(f"{name!r} is not METHOD.NAME", param_hint="--option")
        per_method.setdefault(method, {})[option] = value
    settings = EvalSettings(fills=tuple(f.strip() for f in fills.split(",") if f.strip()), robustness=robustness,
                            robustness_images=robustness_images, k=k, seed=seed, max_batch=max_batch,
                            **({"eps": eps} if eps is not None else {}))
    try:
        settings.check()
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--fills") from None
    device = _device(device)
    clf = _load_classifier(classifier, device)
    G = _load_generator(generator, device) if generator else None
    job = _build(lambda: EvaluateJob(clf, methods, images, G, max_images, settings, batch, per_method))
    s = _run(job, out, overwrite, "evaluate", page).summary
    for name, row in (s.get("methods") or {}).items():
        click.echo(f"{name:>22}: deletion AUC {_f(row.get('deletion_auc'))}, insertion AUC "
                   f"{_f(row.get('insertion_auc'))}, top-k kept {_f(row.get('topk_overlap'))}, "
                   f"{_f(row.get('seconds_per_image'))} s/image")
    click.echo(f"results in {os.path.abspath(out)} (evaluation.csv, evaluation.png)")


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@main.command()
@click.option("--out", default="cfgan-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="fewer optimisation steps (for smoke tests)")
@overwrite_option
@report_option
@device_option
def demo(out, quick, overwrite, page, device):
    """Run the toolkit's main job on the bundled Fashion-MNIST models."""
    import time

    import torch

    from cfgan.jobs.demo import DemoJob

    device = _device(device)
    started = time.time()
    torch.manual_seed(0)
    G = _load_generator("zoo:fashion-mnist", device)
    clf = _load_classifier("zoo:fashion-mnist", device)
    report = _run(DemoJob(G, clf, quick=quick, log=click.echo), out, overwrite, "demo", page)
    where = report.page if report.page else out
    click.echo(f"\ndemo finished in {time.time() - started:.0f} s; open {os.path.abspath(where)}")


class _DefaultRun(click.Group):
    """``cfgan augment DATA ...`` runs the mining (``run``); ``label`` and ``export`` are the other steps."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@main.group(name="augment", cls=_DefaultRun)
def augment():
    """Boundary samples for a person to label (active learning): `cfgan augment DATA ...` mines them,
    `cfgan augment label RUN --labels labels.csv` merges labels, `cfgan augment export RUN --out DIR` writes
    a labelled ImageFolder."""


@augment.command(name="run")
@click.argument("data", type=click.Path())
@click.option("--generator", "-g", required=True, help="generator file, zoo:NAME or module:attr")
@click.option("--classifier", "-c", required=True, help="the classifier to find boundary samples for")
@click.option("--pairs", required=True,
              help="boundaries to mine, CLASS:CLASS comma-separated (either direction), e.g. "
                   "Shirt:T-shirt/top,Pullover:Coat; 'auto': each image's boundary with its runner-up class")
@click.option("--paths-per-image", default=4, show_default=True, type=click.IntRange(1),
              help="crossing paths per image, from jittered starts pushed apart by --diversity")
@click.option("--eps", default=0.1, show_default=True, type=click.FloatRange(0, 0.5),
              help="keep frames with |p(target) - 0.5| <= EPS (and the two frames straddling the crossing)")
@click.option("--method", default="ascent", show_default=True, type=click.Choice(["ascent", "regularized"]))
@click.option("--frames", default=16, show_default=True, type=click.IntRange(2))
@click.option("--space", default="w+", show_default=True, type=click.Choice(["z", "w", "w+"]))
@click.option("--steps", default=None, type=click.IntRange(1), help="path optimisation steps (method default)")
@click.option("--invert-steps", default=300, show_default=True, type=click.IntRange(1))
@click.option("--diversity", default=5.0, show_default=True, type=click.FloatRange(0),
              help="weight pushing an image's paths apart (0: independent restarts)")
@click.option("--judge", "judges", multiple=True,
              help="an independent classifier (repeatable): each path is labelled genuine / blind-spot / mixed")
@click.option("--prefer", default="boundary", show_default=True, type=click.Choice(["boundary", "blind-spot"]),
              help="hand-out order: closest to p = 0.5 first, or frames of blind-spot paths first (needs --judge)")
@click.option("--max-samples", default=None, type=click.IntRange(1),
              help="keep only the first N samples of the hand-out order")
@click.option("--limit", default=None, type=click.IntRange(1), help="use only the first N images of DATA")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1),
              help="images optimised at once (a fixed block: part of the settings, since it shapes the floats)")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of inversion jitter and restarts")
@click.option("--lpips/--no-lpips", default=False, show_default=True, help="also record LPIPS identity distances")
@max_images_option
@click.option("--out", required=True, type=click.Path(file_okay=False))
@overwrite_option
@report_option
@device_option
def augment_run(data, generator, classifier, pairs, paths_per_image, eps, method, frames, space, steps,
                invert_steps, diversity, judges, prefer, max_samples, limit, batch, seed, lpips, max_images, out,
                overwrite, page, device):
    """Mine DATA (an ImageFolder tree, a folder of images or a latent file) for samples near the classifier's
    decision boundary: OUT/samples/<predicted class>/<id>.png and OUT/manifest.jsonl, ready to label."""
    from cfgan.jobs.augment import AugmentJob

    memory = None
    if max_images is not None:
        from inversion import MemoryBound

        memory = MemoryBound(max_items=max_images)
    device = _device(device)
    G = _load_generator(generator, device)
    clf = _load_classifier(classifier, device)
    judge_models = [_load_classifier(spec, device, "--judge") for spec in judges]
    options = {"steps": steps} if steps is not None else {}
    job = _build(lambda: AugmentJob(
        G, clf, data, pairs, paths_per_image=paths_per_image, eps=eps, method=method, frames=frames, space=space,
        batch=batch, seed=seed, invert_steps=invert_steps, judges=judge_models, diversity=diversity, prefer=prefer,
        max_samples=max_samples, limit=limit, lpips=lpips, memory=memory, **options))
    report = _run(job, out, overwrite, "augment", page)
    s = report.summary
    click.echo(f"{s.get('samples', 0)} boundary samples (of {s.get('candidates', 0)} candidates) from "
               f"{s.get('images', 0) - s.get('skipped', 0)} images, {s.get('crossed', 0)}/{s.get('paths', 0)} paths "
               f"crossed; {s.get('skipped', 0)} images in no pair skipped")
    if s.get("sample_labels"):
        labels = s["sample_labels"]
        click.echo(f"judged: {labels['blind-spot']} blind-spot, {labels['mixed']} mixed, {labels['genuine']} genuine "
                   f"samples")
    click.echo(f"label them: {os.path.abspath(out)}/manifest.jsonl, images in {os.path.abspath(out)}/samples/")


def _export(run_dir, out, overwrite):
    from cfgan.augment import export_labelled

    try:
        counts = export_labelled(run_dir, out, overwrite)
    except ValueError as err:
        _fail(err)
    click.echo(f"exported {sum(counts.values())} labelled images in {len(counts)} class folders to "
               f"{os.path.abspath(out)} (torchvision.datasets.ImageFolder reads it as is)")


@augment.command(name="label")
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--labels", "labels_csv", required=True, type=click.Path(dir_okay=False),
              help="CSV with a header: id (or file) and label (class name, folder or index; empty: unlabelled)")
@click.option("--export", "export_to", default=None, type=click.Path(file_okay=False),
              help="then write the labelled samples as an ImageFolder tree here")
@click.option("--overwrite", is_flag=True, help="replace a non-empty --export folder")
def augment_label(run_dir, labels_csv, export_to, overwrite):
    """Merge human labels into RUN's manifest (a later label for a sample replaces an earlier one)."""
    from cfgan.augment import merge_labels

    try:
        labelled, total = merge_labels(run_dir, labels_csv)
    except ValueError as err:
        _fail(err)
    click.echo(f"{labelled} of {total} samples labelled in {os.path.abspath(run_dir)}/manifest.jsonl")
    if export_to:
        _export(run_dir, export_to, overwrite)


@augment.command(name="export")
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="replace a non-empty --out folder")
def augment_export(run_dir, out, overwrite):
    """Write RUN's labelled samples as OUT/<class folder>/<id>.png (+ classes.json) for ImageFolder."""
    _export(run_dir, out, overwrite)


@main.command(name="report")
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="folder for index.html (default: the run folder; required for several runs)")
def report_command(run_dirs, out):
    """Write index.html showing what the runs in RUN_DIR... found (any cfgan run folder, finished or not):
    per subject the input, reconstruction, crossing frames with the probability curve, video, filmstrip and
    change map; AM grids; a sortable table of all paths; the settings. Static files only: open it from disk."""
    from cfgan.report import ReportError, load_run, write_report

    try:
        page = write_report(list(run_dirs), out)
        runs = [load_run(d) for d in run_dirs]
    except ReportError as err:
        _fail(err)
    for run in runs:
        total = "?" if run.total is None else run.total
        click.echo(f"{run.path}: cfgan {run.command}, {run.done} of {total} items done"
                   + ("" if run.complete else " (incomplete: the page says so)"))
    click.echo(f"report: {os.path.abspath(page)}")


if __name__ == "__main__":  # pragma: no cover
    main()
