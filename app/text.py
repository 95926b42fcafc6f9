"""What the page says: titles, explanations, styling. Plain constants, so the layout reads as layout."""

import html
import re

import gradio as gr

# --- text from a file or a user, shown as itself ------------------------------------------------------------


def escape_html(text) -> str:
    """For HTML that the page renders (toasts, plotly's labels and hover text): tags shown as text; "%{"
    would start a plotly template variable."""
    return html.escape(str(text), quote=False).replace("%{", "% {")


MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]#|~])")  # what starts emphasis, code, links, images, tables


def escape_markdown(text) -> str:
    """For gr.Markdown: a checkpoint's `dataset` of `<img src=x>` or a file named `**x**.mp4` shows as typed
    (HTML escaped, Markdown punctuation backslash-escaped, on one line: no list or heading can start), never
    as an image or formatting."""
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


# An absolute path (POSIX or Windows) that does not follow a word, "://" or another path: each is cut to its
# last part (a file name), so a message names the file but not the server's folders.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\\~-])(?:[A-Za-z]:)?[\\/][^\s'\"`,;:()<>\[\]]*")


def without_paths(text) -> str:
    """A message for someone outside the server: "/srv/hf/hub/models--x/blobs/open_clip.safetensors is
    damaged" says "open_clip.safetensors is damaged"."""
    return ABSOLUTE_PATH.sub(lambda m: re.split(r"[\\/]", m.group().rstrip("/\\"))[-1], str(text))


def code_span(text) -> str:
    """`text` as inline code, shown as typed (a code span renders HTML and Markdown literally); text holding
    a backtick, which would end the span early, is escaped instead."""
    return f"`{text}`" if "`" not in str(text) and "\n" not in str(text) else escape_markdown(text)


TITLE = "avzsl · what is happening in this video?"
TRAIN_HINT = ("`python -m avzsl.train --model clipclap --data FEATURES --out checkpoints/NAME` "
              "(features from `python -m avzsl.extract`), or `python -m avzsl.train --synthetic --out "
              "checkpoints/demo-synthetic` to try the pipeline on generated data in about a minute")

# System fonts only: the default themes fetch Google fonts, which an offline machine cannot reach.
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
TABLE_COLUMNS = ["Rank", "Label", "Confidence", "Distance", "Seen in training?"]

CSS = """
.banner { border-radius: 8px; padding: 10px 14px !important; margin: 4px 0; }
.banner-warn { background: #fff4ce; border: 1px solid #e0b000; }
.banner-info { background: #eaf2ff; border: 1px solid #7aa7e8; }
.warnings:not(:empty) p { background: #fff4ce; border-left: 4px solid #e0b000; padding: 6px 10px; margin: 4px 0; }
.subtitle p { font-size: 1.05em; color: #444; margin-top: -6px; }
.small-note p { font-size: 0.9em; color: #555; }
"""

INTRO = ("Drop in a video and type a few labels: the app ranks your labels by how well they fit, judging "
         "from the **picture** (middle frame, CLIP) and the **sound** (10 seconds of audio, CLAP). "
         "Any words work, including labels no model was trained on — that is *zero-shot* classification.")

HOW_TO_READ = ("**How to read this:** *confidence* says how the model shares its belief among **your** labels "
               "(they always add up to 100 %, so it depends on which labels you typed); *distance* is how far the "
               "video is from each label in the model's space (smaller = closer). *Seen* labels are classes the "
               "trained model learned from; *unseen* ones are new to it.")

EXPLORE_INTRO = """
Each dot is one test video of the data set the checkpoint was trained and tested on. t-SNE or UMAP squeeze
its vectors into 2-D so that similar videos land close together: the axes mean nothing, only who is near whom.
- **Colour** = class. ● a class the model was trained on (*seen*); ◆ a class it never saw (*unseen*: the zero-shot case).
- ■ = where the class **name** lands once embedded. In the **learned joint space** a good model puts each video next
  to its own class name, unseen classes included; the **input** maps show the CLIP picture and CLAP sound features
  before the model, for comparison.
- ★ = videos you classified in this session, ✚ = labels you typed.

Hover a point for its class and video id; click a class in the legend to hide it, double-click to show only that one.
"""
