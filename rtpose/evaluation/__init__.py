"""Scoring against ground truth (make_clip clips, COCO and COCO-WholeBody images): used by the
tests and the benchmarks, never by a running graph.

- :mod:`~rtpose.evaluation.tracking`: id switches, coverage, jitter, lag, keypoint error and PCK
  of tracked poses against make_clip's ``gt.json``;
- :mod:`~rtpose.evaluation.pose3d`: PA-MPJPE and bone-length steadiness of 3D skeletons;
- :mod:`~rtpose.evaluation.wholebody`: per-part PCK on COCO-WholeBody images;
- :mod:`~rtpose.evaluation.hands`: hand PCK on COCO hands, and a moving-hand clip.
"""
