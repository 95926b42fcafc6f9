"""Several feature data sets of one feature space as one benchmark: e.g. the ClipClap release + your videos.

    python -m avzsl.extract my_videos --out stores/mine --random-split 0 --encoders-preset clipclap-release \\
        --frames bgr-float255 --prompts ucf-activitynet
    python -m avzsl.train --data data/UCF --data stores/mine --out checkpoints/ucf-and-mine

The classes are the union of the parts' classes (a class is the same class when its name is), each split
list the union of the parts' lists, each subset the videos of all parts. Refused, with the reason: parts made
by other encoders (other preset, frame convention or sizes), a class that is seen in one part and unseen in
another, or a class whose text differs between parts (other prompt templates).
"""

from __future__ import annotations

import numpy as np

from avzsl.data.errors import DataError
from avzsl.data.provenance import Provenance
from avzsl.data.features import SAMPLE_SUBSETS, ClassText, Features, GZSLData
from avzsl.data.splits import SPLIT_LISTS, ClassSplit

TEXT_TOLERANCE = 1e-4  # the same class text computed twice (float32, other batching) agrees to about 1e-6


def combine(parts: list[GZSLData]) -> GZSLData:
    """One GZSLData holding every part; with one part, that part unchanged."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for part in parts[1:]:
        _check_same_space(first, part)
    names = sorted({n for p in parts for n in p.split.class_names})
    index = {n: i for i, n in enumerate(names)}
    prompts, text = {}, {}
    for p in parts:
        for i, name in enumerate(p.split.class_names):
            row = p.text.embeddings[i]
            if name in text and np.abs(text[name] - row).max() > TEXT_TOLERANCE:
                raise DataError(f"class {name!r} has other text in {p.name} than in an earlier part (other prompt "
                                "templates?); extract with the same --prompts as the other data")
            text.setdefault(name, row)
            prompts.setdefault(name, p.split.prompt_names[i])
    lists = {}
    for list_name in SPLIT_LISTS:
        members = {n for p in parts for n in p.split.names(p.split.lists[list_name])}
        lists[list_name] = tuple(sorted(index[n] for n in members))
    # A class cannot be trained on in a stage where it must be unseen (reference §8).
    for train_list, unseen_list in (("stage_1_train", "stage_1_val_unseen"), ("stage_1_train", "stage_2_test_unseen"),
                                    ("stage_2_train", "stage_2_test_unseen")):
        both = set(lists[train_list]) & set(lists[unseen_list])
        if both:
            raise DataError(f"{len(both)} class(es) are training classes in one data set and unseen in another "
                            f"({train_list} and {unseen_list}), e.g. {[names[i] for i in sorted(both)][:3]}")
    split = ClassSplit("+".join(p.name for p in parts), tuple(names), tuple(prompts[n] for n in names), lists)
    relabel = [np.array([index[n] for n in p.split.class_names], dtype=np.int64) for p in parts]  # a part's id -> ours
    subsets = {}
    for subset in SAMPLE_SUBSETS:
        pieces = [(r, p.subsets[subset]) for r, p in zip(relabel, parts)]
        subsets[subset] = Features.concat([Features(f.audio, f.visual, r[f.labels], f.video_ids) for r, f in pieces])
    provenance = Provenance(
        encoders=first.provenance.encoders, prompt_set=first.provenance.prompt_set,
        synthetic=any(p.provenance.synthetic for p in parts),
        source={"kind": "combined", "parts": [p.provenance.source for p in parts]},
        details={k: v for k, v in first.provenance.details.items() if k == "prompt_templates"})
    return GZSLData(split, ClassText(np.stack([text[n] for n in names]), first.text.parts, first.text.alignment),
                    subsets, provenance)


def _check_same_space(a: GZSLData, b: GZSLData) -> None:
    from avzsl.encoders.spec import serving_problem

    if (a.audio_dim, a.visual_dim, a.text.parts) != (b.audio_dim, b.visual_dim, b.text.parts):
        raise DataError(f"{b.name} has features of other sizes (audio {b.audio_dim}, visual {b.visual_dim}, text "
                        f"{list(b.text.parts)}) than {a.name} (audio {a.audio_dim}, visual {a.visual_dim}, text "
                        f"{list(a.text.parts)}): they come from other encoders")
    spec_a, spec_b = a.provenance.encoders, b.provenance.encoders
    if spec_a and spec_b:
        problem = serving_problem(spec_a, spec_b)
        if problem:
            raise DataError(f"{a.name} and {b.name} are not in one feature space: {problem}")
    if a.text.alignment != b.text.alignment:
        raise DataError(f"{a.name} aligns class text {a.text.alignment}, {b.name} {b.text.alignment}")
