"""The Explore tab's logic: which points go on which map, using the service's atlases. No Gradio here.

Maps are fitted on a checkpoint's atlas videos once per (checkpoint, space, method) and cached
(avzsl.maps.projection); the class text markers and the session's videos and labels are placed on them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from app.figures import MapPanel, UserPoint, empty_figure, map_figure
from app.state import Classified
from app.text import escape_html, escape_markdown
from avzsl.encoders.spec import EncoderSpec
from avzsl.maps.projection import METHOD_NAMES, SPACE_NAMES, SPACES, ProjectionCache, atlas_key, atlas_space, warm_up

log = logging.getLogger(__name__)

MAX_LABEL_MARKERS = 40
SPACE_TITLES = {"joint": "Learned joint space", "visual": "Input: picture (CLIP)", "audio": "Input: sound (CLAP)"}


@dataclass
class MapResult:
    figure: object  # plotly Figure
    status: str  # markdown: what is shown and how long it took


class MapMaker:
    def __init__(self, service, cache: ProjectionCache | None = None):
        self.service = service
        self.cache = cache or ProjectionCache()
        self.warmed = threading.Event()  # set once UMAP's numba code is compiled (see warm_up_in_background)
        self._warming = False

    # --- which checkpoints can be mapped -----------------------------------------------------------------

    def checkpoints(self) -> list[str]:
        """Checkpoints under the service's folder that ship an embedding atlas, usable ones first."""
        found = [(not info.usable, info.id) for info in self.service.models() if info.has_atlas]
        return [name for _, name in sorted(found)]

    # --- start-up -------------------------------------------------------------------------------------------

    def warm_up_in_background(self) -> None:
        """Compile numba (a tiny UMAP), then fit the default map of the first checkpoint, off the main thread."""

        def run():
            try:
                log.info("UMAP warm-up (numba) in %.1f s", warm_up())
                self.warmed.set()
                names = self.checkpoints()
                if names:
                    self._atlas_map(names[0], "joint", "umap")
            except Exception:  # noqa: BLE001 - a failed warm-up only costs time later
                log.exception("map warm-up failed")
            finally:
                self.warmed.set()

        self._warming = True
        threading.Thread(target=run, name="avzsl-map-warm-up", daemon=True).start()

    @property
    def preparing(self) -> bool:
        """The start-up warm-up is still compiling UMAP: a map asked for now would wait for it."""
        return self._warming and not self.warmed.is_set()

    # --- maps -----------------------------------------------------------------------------------------------

    def _atlas_map(self, name: str, space: str, method: str):
        """(atlas, its map of `space`, where the map came from in words) for checkpoint `name`."""
        catalog = self.service.catalog
        atlas, key = catalog.atlas(name), atlas_key(catalog.path(name))
        was_cached = self.cache.cached(key, space, method)
        amap = self.cache.atlas_map(key, atlas_space(atlas, space, catalog.usable(name).config.input_dims), method)
        return atlas, amap, ("from the cache" if was_cached else "read from disk" if amap.from_disk
                             else f"computed in {amap.seconds:.1f} s")

    def draw(self, name: str | None, spaces: list[str], method: str, history: list[Classified],
             show_mine: bool = True) -> MapResult:
        if not name:
            return MapResult(empty_figure("No checkpoint with an embedding atlas: train one first."), "")
        spaces = [s for s in SPACES if s in spaces] or ["joint"]
        history = history if show_mine else []
        info = self.service.model_info(name)
        encoders = self.service.encoder_spec(name)  # only features of these encoders fit its input maps
        panels, notes, timing, fitted, placed_videos, placed_labels = [], [], [], [], set(), set()
        for space in spaces:
            atlas, amap, source = self._atlas_map(name, space, method)
            fitted.append(amap)
            timing.append(f"{SPACE_NAMES[space]}: {source}")
            videos, labels = self._user_points(name, space, amap, history, info, encoders)
            placed_videos |= {v.name for v in videos}
            placed_labels |= {p.name for p in labels}
            panels.append(MapPanel(
                title=f"{SPACE_TITLES[space]} · {METHOD_NAMES[method]}", video_xy=amap.video_xy,
                labels=amap.space.labels, video_ids=list(atlas.video_ids), class_ids=amap.space.class_ids,
                class_xy=amap.class_xy, user_videos=videos, user_labels=labels,
            ))
        figure = map_figure(panels, class_names=list(atlas.class_names), seen_classes=atlas.seen_classes)

        classes = set(np.unique(atlas.labels))
        n_seen = len(classes & set(atlas.seen_classes))
        lines = [f"**{escape_markdown(name)}**: {len(atlas.labels):,} test videos of {len(classes)} classes "
                 f"({n_seen} seen in training, {len(classes) - n_seen} unseen).",
                 f"{METHOD_NAMES[method]} maps — " + "; ".join(timing) + "."]
        if history:
            if placed_videos or placed_labels:
                rule = ("UMAP's transform" if method == "umap" and not any(a.from_disk for a in fitted)
                        else "the weighted mean of their 5 nearest atlas videos")
                lines.append(f"Your {len(placed_videos)} video(s) (★) and {len(placed_labels)} label(s) (✚) are placed "
                             f"on the finished map by {rule}; the map itself is not recomputed.")
            if "joint" in spaces and not any(c.prediction.model == name for c in history):
                notes.append("Your videos appear in the joint space only when classified with this checkpoint "
                             "(choose it as the model on the Classify tab).")
            if any(s != "joint" for s in spaces) and not info.usable:
                notes.append("Your videos are not drawn on the input-feature maps: this checkpoint was trained on "
                             "features of other encoders.")
            elif any(s != "joint" for s in spaces) and any(c.prediction.encoders != encoders for c in history):
                notes.append("Videos classified with other encoders than this checkpoint's "
                             f"({escape_markdown(encoders.describe())}) are not drawn on its input-feature maps.")
        if info.synthetic:
            notes.append("This checkpoint was trained on SYNTHETIC features: the clusters show the pipeline works, "
                         "nothing about real videos.")
        if self.service.random_encoders and history:
            notes.append("Random-weight encoders: where your videos land means nothing.")
        return MapResult(figure, " ".join(lines) + "".join(f"\n\n*{n}*" for n in notes))

    def _user_points(self, name, space, amap, history, info, encoders: EncoderSpec):
        """The session's videos and labels that belong on this map, placed on it."""
        dim = amap.space.dim
        video_rows, video_points, label_vectors = [], [], {}
        for entry in history:
            p, features = entry.prediction, entry.prediction.video_features
            if space == "joint" and p.model == name and "joint" in features:
                vector, labels = features["joint"], p.label_joint
            elif space != "joint" and info.usable and p.encoders == encoders and space in features:
                dims = self.service.catalog.usable(name).config.input_dims
                vector, labels = features[space], dims.text_in_space(p.label_text, space, dim)
            else:
                continue
            if vector.shape[-1] != dim:
                continue
            best = p.ranking[0]
            video_rows.append(vector)
            video_points.append((entry.name, f"<b>your video: {escape_html(entry.name)}</b><br>best label: "
                                 f"{escape_html(best.label)} ({100 * best.confidence:.0f}%)<br>model: {escape_html(p.model)}"))
            if labels is not None and labels.shape[-1] == dim:
                for label, row in zip(p.labels, labels):
                    label_vectors.pop(label.lower(), None)  # the latest spelling and vector win, drawn last
                    label_vectors[label.lower()] = (label, row)
        chosen = list(label_vectors.values())[-MAX_LABEL_MARKERS:]
        videos = [UserPoint(xy, video, hover) for (video, hover), xy in zip(video_points, _placed(amap, video_rows))]
        marks = [UserPoint(xy, label, f"<b>your label: {escape_html(label)}</b>")
                 for (label, _), xy in zip(chosen, _placed(amap, [row for _, row in chosen]))]
        return videos, marks


def _placed(amap, rows: list[np.ndarray]) -> list[tuple[float, float]]:
    """Where the (D,) vectors `rows` land on the map, as plain (x, y) pairs."""
    return [(float(x), float(y)) for x, y in amap.place(np.stack(rows))] if rows else []


