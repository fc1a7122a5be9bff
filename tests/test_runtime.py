"""The runtime on synthetic graphs: order, back-pressure, drop policies, flow limiting,
joins, back edges, end of stream, errors and stopping."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from rtpose.graph.build import load_graph
from rtpose.plugins import get_node_type
from rtpose.runtime.scheduler import GraphRunner

PLUGIN = (Path(__file__).parent / "plugins" / "synthetic.py").as_posix()


def make_graph(tmp_path: Path, nodes: str):
    path = tmp_path / "graph.yaml"
    path.write_text(f"plugins: [{PLUGIN}]\nnodes:\n{nodes}")
    return load_graph(path)


def chain(source: str = "{frames: 50}", work: str = "{}", sink: str = "{}", sink_input: str = "work.detections",
          work_input: str = "source.image"):
    return f"""\
  - name: source
    type: synthetic_source
    params: {source}
  - name: work
    type: synthetic_work
    params: {work}
    inputs: {{image: {work_input}}}
  - name: sink
    type: synthetic_sink
    params: {sink}
    inputs: {{detections: {sink_input}}}
"""


def seen(name: str = "sink") -> list[int]:
    return get_node_type("synthetic_sink").seen[name]


def rtpose_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtpose:")]


def test_file_source_is_lossless_and_in_order(tmp_path: Path) -> None:
    runner = GraphRunner(make_graph(tmp_path, chain(source="{frames: 200}")))
    result = runner.run()
    assert result.exit_code == 0 and result.error is None
    assert seen() == list(range(200))
    stats = runner.metrics.snapshot()
    assert stats["work"]["frames_out"] == 200 and stats["sink"]["dropped"] == 0
    assert rtpose_threads() == []


def test_block_policy_applies_back_pressure(tmp_path: Path) -> None:
    runner = GraphRunner(make_graph(tmp_path, chain(source="{frames: 30}", sink="{work_s: 0.01}")))
    runner.run()
    assert seen() == list(range(30))
    sink_queue = runner.metrics.snapshot()["sink"]["inputs"]["detections"]
    assert sink_queue["policy"] == "block" and sink_queue["depth_max"] <= sink_queue["capacity"]
    assert sink_queue["dropped"] == 0


def test_latest_policy_keeps_newest_and_counts_drops(tmp_path: Path) -> None:
    nodes = chain(source="{frames: 0, live: true, interval_s: 0.002}", sink="{work_s: 0.03}",
                  sink_input="{from: work.detections, policy: latest}", work_input="{from: source.image, policy: block, queue: 200}")
    nodes = nodes.replace("    type: synthetic_source\n", "    type: synthetic_source\n    max_in_flight: 1000\n")
    runner = GraphRunner(make_graph(tmp_path, nodes), max_frames=150)
    runner.run()
    received = seen()
    stats = runner.metrics.snapshot()["sink"]
    assert received == sorted(received) and len(received) < 150
    assert stats["inputs"]["detections"]["dropped"] == 150 - len(received)  # every loss is counted
    assert received[-1] == 149  # the newest frame is never the one dropped


def test_drop_oldest_policy_is_bounded_and_counts(tmp_path: Path) -> None:
    nodes = chain(source="{frames: 0, live: true, interval_s: 0.002}", sink="{work_s: 0.03}",
                  sink_input="{from: work.detections, policy: drop_oldest, queue: 3}", work_input="{from: source.image, policy: block, queue: 200}")
    nodes = nodes.replace("    type: synthetic_source\n", "    type: synthetic_source\n    max_in_flight: 1000\n")
    runner = GraphRunner(make_graph(tmp_path, nodes), max_frames=100)
    runner.run()
    received = seen()
    queue = runner.metrics.snapshot()["sink"]["inputs"]["detections"]
    assert received == sorted(received) and queue["depth_max"] <= 3
    assert queue["dropped"] == 100 - len(received) > 0  # every loss is counted
    assert received[-3:] == [97, 98, 99]  # what was queued at the end is delivered


def test_live_source_is_flow_limited_without_backlog(tmp_path: Path) -> None:
    nodes = chain(source="{frames: 0, live: true, interval_s: 0.005}", work="{work_s: 0.03}")
    runner = GraphRunner(make_graph(tmp_path, nodes), max_frames=15)
    runner.run()
    stats = runner.metrics.snapshot()
    assert stats["source"]["dropped"] > 0  # frames arriving while busy are dropped at the source
    assert stats["work"]["dropped"] == 0 and stats["sink"]["dropped"] == 0
    assert stats["work"]["queue_max"] <= 1 and stats["sink"]["queue_max"] <= 1
    assert len(seen()) == 15
    assert seen()[-1] > 15  # frame indices keep the source's numbering, gaps where frames were dropped
    # one frame in flight: a frame waits for no other frame
    assert stats["sink"]["latency_p99_ms"] < stats["work"]["p99_ms"] + 25


def test_joined_inputs_belong_to_the_same_frame(tmp_path: Path) -> None:
    nodes = chain(source="{frames: 0, live: true, interval_s: 0.001}", work="{work_s: 0.004}") + """\
  - name: pair
    type: synthetic_pair_sink
    inputs:
      image: {from: source.image, policy: latest}
      detections: {from: work.detections, policy: latest}
"""
    nodes = nodes.replace("    type: synthetic_source\n", "    type: synthetic_source\n    max_in_flight: 4\n")
    runner = GraphRunner(make_graph(tmp_path, nodes), max_frames=120)
    runner.run()
    pairs = get_node_type("synthetic_pair_sink").seen["pair"]
    assert pairs and all(a == b for a, b in pairs)


def test_back_edge_delivers_the_previous_frame(tmp_path: Path) -> None:
    nodes = """\
  - name: source
    type: synthetic_source
    params: {frames: 40}
  - name: feedback
    type: synthetic_feedback
    inputs:
      image: source.image
      previous: {from: work.detections, back_edge: true}
  - name: work
    type: synthetic_work
    inputs: {image: feedback.image}
"""
    result = GraphRunner(make_graph(tmp_path, nodes)).run()
    assert result.exit_code == 0
    pairs = get_node_type("synthetic_feedback").seen["feedback"]
    assert pairs == [(0, None)] + [(i, i - 1) for i in range(1, 40)]


@pytest.mark.parametrize("where", ["work", "source"])
def test_failing_node_stops_graph_quickly_with_traceback(tmp_path: Path, where: str) -> None:
    source = "{frames: 0, live: true, interval_s: 0.001" + (", fail_at: 5}" if where == "source" else "}")
    work = "{fail_at: 5}" if where == "work" else "{}"
    runner = GraphRunner(make_graph(tmp_path, chain(source=source, work=work)))
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started < 2.0
    assert result.exit_code == 1 and result.error is not None and result.error.node == where
    assert "synthetic.py" in result.error.traceback_text
    assert ("synthetic failure at frame 5" if where == "source" else "cannot process frame") in str(result.error)
    assert rtpose_threads() == []


def test_failure_in_open_stops_everything(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, chain(source="{frames: 0, live: true, interval_s: 0.001}"))

    def broken_open(self) -> None:
        raise OSError("device busy")

    cls = graph.nodes["work"].cls
    subclass = type("BrokenWork", (cls,), {"open": broken_open})
    graph.nodes["work"].cls = subclass
    result = GraphRunner(graph).run()
    assert result.error is not None and result.error.node == "work" and "device busy" in str(result.error)
    assert rtpose_threads() == []


def test_stop_from_another_thread_ends_an_endless_graph(tmp_path: Path) -> None:
    runner = GraphRunner(make_graph(tmp_path, chain(source="{frames: 0, live: true, interval_s: 0.002}")))
    timer = threading.Timer(0.5, runner.stop)
    timer.start()
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started < 0.5 + 2.0
    assert result.exit_code == 0 and not result.stuck_threads and rtpose_threads() == []


def test_metrics_and_trace_cover_every_node_and_frame(tmp_path: Path) -> None:
    runner = GraphRunner(make_graph(tmp_path, chain(source="{frames: 20}", work="{work_s: 0.002}")), trace=True)
    runner.run()
    runner.metrics.write_json(tmp_path / "m.json")
    runner.metrics.write_trace(tmp_path / "t.json")
    metrics = json.loads((tmp_path / "m.json").read_text())["nodes"]
    assert set(metrics) == {"source", "work", "sink"}
    assert metrics["work"]["p50_ms"] >= 2.0 and metrics["work"]["fps"] > 0
    events = [e for e in json.loads((tmp_path / "t.json").read_text())["traceEvents"] if e["ph"] == "X"]
    assert len(events) == 3 * 20
    work = sorted((e for e in events if e["cat"] == "synthetic_work"), key=lambda e: e["args"]["frame"])
    assert [e["args"]["frame"] for e in work] == list(range(20)) and all(e["dur"] >= 2000 for e in work)


def test_optional_input_may_stay_unconnected(tmp_path: Path) -> None:
    nodes = """\
  - name: source
    type: synthetic_source
    params: {frames: 5}
  - name: optional
    type: synthetic_optional
    inputs: {image: source.image}
"""
    result = GraphRunner(make_graph(tmp_path, nodes)).run()
    assert result.exit_code == 0
    assert get_node_type("synthetic_optional").seen["optional"] == [False] * 5


FAULTS = (Path(__file__).parent / "plugins" / "faults.py").as_posix()


def test_a_node_hung_in_process_is_reported_with_its_stack_and_the_run_returns(tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text(f"""\
plugins: [{PLUGIN}, {FAULTS}]
nodes:
  - {{name: source, type: synthetic_source, params: {{frames: 0, live: true, interval_s: 0.005}}}}
  - {{name: stuck, type: fault_hang, params: {{where: process, after: 2}}, inputs: {{image: source.image}}}}
""")
    graph = load_graph(path)
    hang = get_node_type("fault_hang")
    hang.release.clear()
    runner = GraphRunner(graph, grace=1.0)
    timer = threading.Timer(1.0, runner.stop)
    timer.start()
    started = time.monotonic()
    try:
        result = runner.run()
        took = time.monotonic() - started
    finally:
        hang.release.set()  # let the abandoned thread end, so no test after this one sees it
    assert took < 1.0 + 1.0 + 8.0  # the stop, the grace period, and a loaded machine
    assert [s.node for s in result.stuck] == ["stuck"] and result.exit_code == 1
    stuck = result.stuck[0]
    assert stuck.phase == "process" and stuck.seconds >= 1.0
    assert "hang_until_released" in stuck.stack and "faults.py" in stuck.stack
    assert stuck.describe().startswith("node 'stuck' did not return from process() for")
    deadline = time.monotonic() + 10
    while rtpose_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rtpose_threads() == []


def test_a_failing_source_still_delivers_every_frame_before_the_failure(tmp_path: Path) -> None:
    runner = GraphRunner(make_graph(tmp_path, chain(source="{frames: 0, fail_at: 40}", sink="{work_s: 0.002}")))
    result = runner.run()
    assert result.exit_code == 1 and result.error is not None and result.error.node == "source"
    assert seen() == list(range(40))  # a file source: none lost in the queues when it failed


def test_metrics_keep_a_bounded_uniform_sample(tmp_path: Path) -> None:
    from rtpose.runtime.metrics import RESERVOIR_SIZE, Metrics

    metrics = Metrics({"work": "synthetic_work"})
    frames = 50_000
    for i in range(frames):  # processing times 0..49.999 ms, evenly spread over the run
        metrics.processed("work", "source", i, captured=0.0, start=0.0, end=i / frames * 0.05)
    stats = metrics.snapshot()["work"]
    assert stats["frames_out"] == frames
    assert metrics._records["work"].times_s.sample().shape == (RESERVOIR_SIZE, 2)  # memory is fixed
    # a uniform sample of the whole run, not its last frames: the median stays in the middle
    assert abs(stats["p50_ms"] - 25.0) < 2.5 and abs(stats["p99_ms"] - 49.5) < 1.0


def test_a_stop_lets_the_frames_already_read_reach_the_sinks(tmp_path: Path) -> None:
    runner = GraphRunner(make_graph(tmp_path, chain(source="{frames: 0}", sink="{work_s: 0.01}")), grace=4.0)
    timer = threading.Timer(1.0, runner.stop)
    timer.start()
    result = runner.run()
    assert result.exit_code == 0 and not result.stuck
    read = runner.metrics.snapshot()["source"]["frames_out"]
    assert read > 10 and seen() == list(range(read))  # queued frames drained, none dropped


def test_a_nodes_own_figures_and_queue_depths_are_in_the_metrics(tmp_path: Path) -> None:
    nodes = """\
  - name: source
    type: synthetic_source
    params: {frames: 30}
  - name: counting
    type: synthetic_counting
    inputs: {image: source.image}
  - name: work
    type: synthetic_work
    inputs: {image: counting.image}
  - name: pair
    type: synthetic_pair_sink
    inputs: {image: source.image, detections: work.detections}
"""
    runner = GraphRunner(make_graph(tmp_path, nodes))
    assert runner.run().exit_code == 0
    stats = runner.metrics.snapshot()
    assert stats["counting"]["node"] == {"seen": 30.0}
    assert stats["pair"]["queue_mean"] <= stats["pair"]["queue_max"]  # the deepest input's, not a sum
