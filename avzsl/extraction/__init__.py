"""Batch feature extraction: a folder of labelled videos -> an avzsl feature store.

    videos = find_videos("my_videos")                          # one folder per class (or a labels CSV)
    plan = plan_random_split(videos, seed=0, dataset="my_videos")  # or plan_from_split_folder(videos, DIR)
    extract_local("store", "my_videos", plan, ExtractionSettings(), load_encoders())   # or extract_with_ray
    merge_extraction("store")                                  # -> store.json + features.safetensors

`python -m avzsl.extract` is the command-line front end.
"""

from avzsl.extraction.merge import FAILED_REPORT, merge_extraction, missing_videos
from avzsl.extraction.plan import ExtractionPlan, PlannedVideo, plan_from_split_folder, plan_random_split
from avzsl.extraction.videos import VIDEO_SUFFIXES, LabelledVideo, find_videos
from avzsl.extraction.worker import ExtractionResult, ExtractionSettings, extract_local, work_dir
