# %% [markdown]
# # The poses of a video as a table
#
# Notebook-style: run cell by cell in Jupyter or VS Code (`# %%` cells), or as a script:
# `python examples/poses_table.py clip.mp4`. Set `VIDEO`, `DETECTOR` and `POSE` (or the
# environment variables of the same names) to your video and models.

# %%
import os
import sys
from pathlib import Path

import numpy as np

import rtpose

VIDEO = sys.argv[1] if len(sys.argv) > 1 and Path(sys.argv[1]).exists() else os.environ.get("VIDEO", "clip.mp4")
DETECTOR = os.environ.get("DETECTOR", "yolox_nano")
POSE = os.environ.get("POSE", "hrnet_w32_coco_256x192")
GRAPH = Path(rtpose.__file__).parents[1] / "graphs" / "webcam_body.yaml"

# %% [markdown]
# Run the body graph over the video: one `Result` per frame, each with its `poses`.

# %%
results = list(rtpose.run(GRAPH, source=VIDEO, **{"detector.model": DETECTOR, "pose.model": POSE}))
print(f"{len(results)} frames")

# %% [markdown]
# One row per person per frame. Columns: `frame, timestamp, track_id, x1, y1, x2, y2, score`,
# then `<keypoint>_x, <keypoint>_y, <keypoint>_score` for the 17 COCO keypoints
# (`nose`, `left_eye`, ... `right_ankle`), all float64, in image pixels.

# %%
table, columns = rtpose.pose_table(results)
print(table.shape, columns[:11])

# %% [markdown]
# NumPy from here: e.g. how far each tracked person's nose moved, and where people were seen.

# %%
col = {name: i for i, name in enumerate(columns)}
for track in np.unique(table[:, col["track_id"]]):
    rows = table[table[:, col["track_id"]] == track]
    nose = rows[:, [col["nose_x"], col["nose_y"]]]
    path = float(np.linalg.norm(np.diff(nose, axis=0), axis=1).sum())
    print(f"track {int(track)}: {len(rows)} frames, nose travelled {path:.0f} px")

# %% [markdown]
# With pandas installed (`pip install pandas`), the same table as a DataFrame:

# %%
try:
    import pandas as pd
except ImportError:
    print("pandas is not installed; the NumPy table above holds the same data")
else:
    frame = pd.DataFrame(table, columns=columns)
    print(frame.groupby("track_id")["score"].describe())
