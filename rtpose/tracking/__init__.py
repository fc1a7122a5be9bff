"""Multi-person tracking, pose-guided detection scheduling, keypoint smoothing and their metrics."""
