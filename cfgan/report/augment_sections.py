"""Report section of ``cfgan augment``: what was mined, and per source image its boundary samples as a person
about to label them would want to see them (in hand-out order, with the classifier's probability of the target
and the judges' verdict on the path each comes from)."""
from __future__ import annotations

from .markup import badge, esc, fmt
from .runs import Run
from .sections import MAX_CARDS, _file, _more, _status_badge, item_table, register


def _sample_figure(run: Run, page, sample: dict) -> str:
    verdict = sample.get("judge_label")
    caption = (f"path {sample.get('path')}, frame {sample.get('frame')}: p({sample.get('target_class')}) "
               f"{fmt(sample.get('p_target'))}, classified as {sample.get('predicted_class')}"
               + (f"; judges: {verdict}" if verdict else ""))
    return page.images.figure(run.path / sample["image"], f"boundary sample {sample.get('id')}", caption, box=96,
                              pixel=True)


def _source_figure(page, item: dict) -> str:
    source = _file(item.get("source"))
    if source is None:
        return ""
    caption = f"source: {item.get('image_class')} (p {fmt(item.get('image_prob'))})"
    return page.images.figure(source, f"source image {item['key']}", caption, box=96, pixel=True, external=True)


@register("augment", "Boundary samples",
          "Frames near the classifier's decision boundary, taken from crossing paths, for a person to label: per "
          "source image its samples, with the classifier's probability of the target and, with judges, whether "
          "the path they come from shows a genuine change or a blind spot of this classifier.")
def augment(run: Run, page) -> str:
    summary = run.summary
    mined = [item for item in run.items if item.get("samples")]
    skipped = [item for item in run.items if item.get("skipped")]
    parts = [f"<p>{esc(summary.get('samples', sum(len(i['samples']) for i in mined)))} samples from "
             f"{len(mined)} images ({esc(summary.get('crossed', '?'))} of {esc(summary.get('paths', '?'))} paths "
             f"crossed); {len(skipped)} images skipped (in no pair of <code>--pairs</code>).</p>"]
    labels = {k: v for k, v in (summary.get("sample_labels") or {}).items() if v}
    if labels:
        parts.append("<p>Samples by the judges' verdict on their path: "
                     + " ".join(badge(f"{k}: {v}", "bad" if k == "blind-spot" else "ok") for k, v in labels.items())
                     + "</p>")
    manifest = run.path / summary.get("manifest", "manifest.jsonl")
    if manifest.is_file():
        parts.append(f'<p>To label: <a href="{esc(page.images.url(manifest))}">{esc(manifest.name)}</a> (one '
                     "line a sample; <code>cfgan augment label</code> merges a CSV of labels into it).</p>")
    cards = []
    for item in mined[:MAX_CARDS]:
        figs = [_source_figure(page, item)] + [_sample_figure(run, page, s) for s in item["samples"]]
        cards.append(f'<div class="tile"><h4>{esc(item["key"])}: {esc(item.get("pair") or "")}</h4>'
                     f'{_status_badge(item)}<div class="row">{"".join(figs)}</div></div>')
    parts.append("".join(cards) + _more(len(mined), MAX_CARDS, "images with samples"))
    return "".join(parts) + item_table(run, page)
