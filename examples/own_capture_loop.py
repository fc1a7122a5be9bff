"""Feed rtpose from your own ``cv2.VideoCapture`` loop and draw with rtpose's overlay.

    python examples/own_capture_loop.py 0 --show                  # webcam, live: frames dropped while busy
    python examples/own_capture_loop.py clip.mp4 --out annotated.mp4   # a file, lossless: every frame drawn

Your program keeps its camera, its loop and its window; rtpose runs the pose graph in the
background (``source=rtpose.APP``). Results come back on this thread with their frame.
"""

import argparse
from pathlib import Path

import cv2
import yaml

import rtpose
from rtpose.viz.overlay import draw_poses

parser = argparse.ArgumentParser(description="Pose from your own capture loop.")
parser.add_argument("source", nargs="?", default="0", help="camera index or video file")
parser.add_argument("--out", help="write the annotated frames to this .mp4")
parser.add_argument("--show", action="store_true", help="show a window (needs OpenCV with GUI support)")
parser.add_argument("--graph", default=Path(__file__).parents[1] / "graphs" / "webcam_body.yaml")
parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE", help="change a param")
args = parser.parse_args()

camera = args.source.isdigit()
capture = cv2.VideoCapture(int(args.source) if camera else args.source)
writer = None
params = {key: yaml.safe_load(value) for key, value in (s.split("=", 1) for s in args.set)}  # as rtpose run --set
graph = rtpose.load(args.graph, source=rtpose.APP, **params)


def show(result: rtpose.Result) -> None:
    """Draw one result onto its own frame, then write and/or show it."""
    global writer
    canvas = draw_poses(result.image, result.poses)
    if args.out:
        if writer is None:
            height, width = canvas.shape[:2]
            writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), capture.get(cv2.CAP_PROP_FPS) or 30,
                                     (width, height))
        writer.write(canvas)
    if args.show:
        cv2.imshow("rtpose", canvas)
        cv2.waitKey(1)


# live for a camera (latency first), lossless for a file; results reach show() on this thread
with rtpose.start(graph, live=camera, keep_image=True, on_result=show) as pipeline:
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        pipeline.push(frame, None if camera else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000)
capture.release()
if writer is not None:
    writer.release()
print(f"{pipeline.metrics['app_results']['frames_in']} frames drawn")
