"""Count the people in every frame of a video with rtpose's body graph.

    python examples/count_people.py clip.mp4 [--set detector.every=3 ...]
"""

import argparse
from pathlib import Path

import yaml

import rtpose

parser = argparse.ArgumentParser(description="Count the people in every frame of a video.")
parser.add_argument("video", help="a video file, image folder, camera index or stream URL")
parser.add_argument("--graph", default=Path(__file__).parents[1] / "graphs" / "webcam_body.yaml")
parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE", help="change a param")
args = parser.parse_args()

params = {key: yaml.safe_load(value) for key, value in (s.split("=", 1) for s in args.set)}  # as rtpose run --set
most = 0
for result in rtpose.run(args.graph, source=args.video, **params):
    most = max(most, len(result.poses))
    print(f"frame {result.index}: {len(result.poses)} people (t={result.timestamp:.2f} s)")
print(f"at most {most} people at once")
