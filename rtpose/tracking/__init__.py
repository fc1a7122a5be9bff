"""Multi-person tracking, pose-guided detection scheduling and keypoint smoothing (their metrics: rtpose.evaluation)."""
