"""Prompt ensembles: the templates a label is written into before the CLIP and CLAP text towers see it.

A label's embedding is the ensemble of its prompts (reference §3.2/§3.3): encode every prompt,
L2-normalise each, average, L2-normalise the mean. The reference sets are copied from the reference notes;
`free-text` is avzsl's default for arbitrary user labels.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from avzsl.encoders.presets import registered

if TYPE_CHECKING:  # a type only: the prompt sets import without torch (the app's page comes before it)
    import torch


@dataclass(frozen=True)
class PromptSet:
    name: str
    clip_templates: tuple[str, ...]  # each holds exactly one "{}" for the label
    clap_templates: tuple[str, ...]

    def __post_init__(self):
        for template in self.clip_templates + self.clap_templates:
            if template.count("{}") != 1:
                raise ValueError(f"prompt set {self.name!r}: template {template!r} must contain exactly one '{{}}'")
        if not self.clip_templates or not self.clap_templates:
            raise ValueError(f"prompt set {self.name!r} needs at least one CLIP and one CLAP template")

    @property
    def fingerprint(self) -> str:
        """Hash of the templates themselves, so editing a set invalidates cached label embeddings."""
        text = json.dumps([self.clip_templates, self.clap_templates])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def fill(templates: tuple[str, ...], labels: list[str]) -> list[str]:
    """Prompts label-major: the T prompts of labels[0], then those of labels[1], ... (K * T strings)."""
    # replace, not str.format: a label may itself contain braces
    return [t.replace("{}", label) for label in labels for t in templates]


def ensemble(prompt_embeddings: torch.Tensor, n_templates: int) -> torch.Tensor:
    """(K * T, D) prompt embeddings, label-major -> (K, D) unit label embeddings."""
    import torch.nn.functional as F

    x = F.normalize(prompt_embeddings, dim=-1).view(-1, n_templates, prompt_embeddings.shape[-1])  # (K, T, D)
    return F.normalize(x.mean(dim=1), dim=-1)  # (K, D)


# Reference §3.2, UCF and ActivityNet: every verb-prefix x article x noun, prefix outermost.
_UCF_ACTIVITYNET_CLIP = tuple(
    f"a {noun} of {article} person {prefix}{{}}."
    for prefix in ("", "using ", "doing ", "during ", "performing ", "practicing ")
    for article in ("a", "the")
    for noun in ("photo", "video", "example", "demonstration")
)

# Reference §3.3, UCF and ActivityNet (30 templates, reference order): every verb-prefix x person, prefix
# outermost, except two the reference lacks: "the person <prefix>" for a non-empty prefix, and "a person during".
_PEOPLE = ("a person", "a example of a person", "a demonstration of a person", "the person", "a example of the person",
           "a demonstration of the person")
_UCF_ACTIVITYNET_CLAP = tuple(
    f"{person} {prefix}{{}} can be heard."
    for prefix in ("", "using ", "doing ", "during ", "performing ", "practicing ")
    for person in _PEOPLE
    if not (person == "the person" and prefix) and (person, prefix) != ("a person", "during ")
)

# Reference §3.2 / §3.3, VGGSound.
_VGGSOUND_CLIP = (
    "a photo of {}.",
    "a video of {}.",
    "a example of {}.",
    "a demonstration of {}.",
    "a photo of the person {}.",
    "a video of the {}.",
    "a example of the {}.",
    "a demonstration of the {}.",
)
_VGGSOUND_CLAP = tuple(  # every lead x article, article outermost (9 templates, reference order)
    f"{lead}{article}{{}} can be heard."
    for article in ("a ", "the ", "")
    for lead in ("", "a example of ", "a demonstration of ")
)

# Arbitrary user labels (objects, sounds or activities). Four templates per tower: on CPU every template
# is one more text forward per label (10 new labels with 4 + 4 templates take about a second on 2 cores,
# 6 + 6 would take half as long again), and prompt-ensembling gains flatten after the first few templates.
# CLIP: the short phrasings of the reference VGGSound set (grammar fixed); CLAP: laion_clap's own zero-shot
# prompt ("this is a sound of ...") and the reference's "... can be heard." forms.
_FREE_TEXT_CLIP = (
    "a photo of {}.",
    "a video of {}.",
    "a photo of the {}.",
    "an example of {}.",
)
_FREE_TEXT_CLAP = (
    "this is a sound of {}.",
    "the sound of {}.",
    "{} can be heard.",
    "a {} can be heard.",
)

PROMPT_SETS: dict[str, PromptSet] = {
    s.name: s
    for s in (
        PromptSet("free-text", _FREE_TEXT_CLIP, _FREE_TEXT_CLAP),
        PromptSet("ucf-activitynet", _UCF_ACTIVITYNET_CLIP, _UCF_ACTIVITYNET_CLAP),
        PromptSet("vggsound", _VGGSOUND_CLIP, _VGGSOUND_CLAP),
    )
}
DEFAULT_PROMPT_SET = "free-text"


def get_prompt_set(prompts: PromptSet | str | None = None) -> PromptSet:
    """A registered set by name (None -> the free-text default), or the given PromptSet unchanged."""
    return registered(PROMPT_SETS, prompts, DEFAULT_PROMPT_SET, "prompt set")
