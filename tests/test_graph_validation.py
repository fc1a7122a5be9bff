"""Bad graphs: every mistake is found before anything runs, with file, line and node."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rtpose.errors import GraphError
from rtpose.graph.build import load_graph

PLUGIN = (Path(__file__).parent / "plugins" / "synthetic.py").as_posix()

GOOD = f"""\
plugins: [{PLUGIN}]
nodes:
  - name: source
    type: synthetic_source
    params: {{frames: 5}}
  - name: work
    type: synthetic_work
    inputs: {{image: source.image}}
  - name: sink
    type: synthetic_sink
    inputs: {{detections: work.detections}}
"""


def problems_of(tmp_path: Path, text: str, overrides: list[str] | None = None) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(GraphError) as caught:
        load_graph(path, overrides)
    message = str(caught.value)
    assert str(path) in message or "--set" in message
    return message


def test_good_graph_loads_in_topological_order(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    graph = load_graph(path)
    assert list(graph.nodes) == ["source", "work", "sink"]
    assert graph.sinks() == ["sink"] and graph.sources() == ["source"]


# (name, text, expected fragments: the line, the node and the problem)
BAD_GRAPHS = [
    ("unknown type with suggestion", GOOD.replace("type: synthetic_work", "type: synthetic_wrok"),
     [":7:", "node 'work'", "unknown node type 'synthetic_wrok'", "did you mean 'synthetic_work'"]),
    ("unknown parameter", GOOD.replace("{frames: 5}", "{frams: 5}"),
     [":5:", "node 'source'", "unknown parameter 'frams'", "did you mean 'frames'"]),
    ("wrongly typed parameter", GOOD.replace("{frames: 5}", "{frames: many}"),
     [":5:", "node 'source'", "parameter 'frames'", "integer", "'many'"]),
    ("missing input", GOOD.replace("    inputs: {detections: work.detections}\n", ""),
     [":9:", "node 'sink'", "input 'detections' (Detections) is not connected"]),
    ("dangling input (no such node)", GOOD.replace("{image: source.image}", "{image: sorce.image}"),
     [":8:", "node 'work'", "no node 'sorce'", "did you mean 'source'"]),
    ("dangling input (no such output)", GOOD.replace("{image: source.image}", "{image: source.images}"),
     [":8:", "node 'work'", "has no output 'images'", "did you mean 'image'"]),
    ("unknown input port", GOOD.replace("{detections: work.detections}", "{detection: work.detections}"),
     [":11:", "node 'sink'", "has no input 'detection'", "did you mean 'detections'"]),
    ("duplicate name", GOOD.replace("name: sink", "name: work"),
     [":9:", "node 'work'", "duplicate node name 'work'", "first at line 6"]),
    ("output type does not fit", GOOD.replace("{detections: work.detections}", "{detections: source.image}"),
     [":11:", "node 'sink'", "takes Detections", "source.image gives Image"]),
    ("bad input reference", GOOD.replace("{image: source.image}", "{image: source}"),
     [":8:", "node 'work'", "not of the form <node>.<output port>"]),
    ("missing type", GOOD.replace("    type: synthetic_sink\n", ""),
     [":9:", "node 'sink'", "missing required key 'type'"]),
    ("invalid YAML", GOOD.replace("{frames: 5}", "{frames: 5"),
     ["invalid YAML"]),
    ("unknown top-level key", "nodez: []\n" + GOOD,
     [":1:", "unknown key 'nodez'"]),
    ("plugin not found", GOOD.replace(PLUGIN, "missing_plugin.py"),
     [":1:", "plugin file not found", "missing_plugin.py"]),
    ("no source", f"plugins: [{PLUGIN}]\nnodes:\n  - name: sink\n    type: synthetic_sink\n"
                  "    inputs: {detections: sink.detections}\n",
     ["node 'sink'", "has no output 'detections'"]),
]


@pytest.mark.parametrize("name,text,fragments", BAD_GRAPHS, ids=[b[0] for b in BAD_GRAPHS])
def test_bad_graph_is_reported_with_file_line_and_node(tmp_path: Path, name: str, text: str,
                                                      fragments: list[str]) -> None:
    message = problems_of(tmp_path, text)
    for fragment in fragments:
        assert fragment in message, f"{name}: {fragment!r} not in:\n{message}"


def test_cycle_is_found_and_back_edge_suggested(tmp_path: Path) -> None:
    text = f"""\
plugins: [{PLUGIN}]
nodes:
  - name: source
    type: synthetic_source
  - name: join
    type: synthetic_pair_sink
    inputs: {{image: source.image, detections: loop.detections}}
  - name: loop
    type: synthetic_relay
    inputs: {{detections: loop2.detections}}
  - name: loop2
    type: synthetic_relay
    inputs: {{detections: loop.detections}}
"""
    message = problems_of(tmp_path, text)
    assert "cycle through" in message and "back_edge: true" in message
    assert "cycle through loop2 -> loop -> loop2" in message and "node 'join'" not in message


def test_back_edge_must_point_upstream(tmp_path: Path) -> None:
    text = GOOD.replace("{detections: work.detections}",
                        "{detections: {from: work.detections, back_edge: true}}")
    message = problems_of(tmp_path, text)
    assert "marked back_edge but 'work' is not downstream of 'sink'" in message
    assert ":11:" in message


def test_inputs_from_two_sources_are_refused(tmp_path: Path) -> None:
    text = GOOD + """\
  - name: camera2
    type: synthetic_source
  - name: pair
    type: synthetic_pair_sink
    inputs: {image: camera2.image, detections: work.detections}
"""
    message = problems_of(tmp_path, text)
    assert "node 'pair'" in message and "different sources (camera2, source)" in message


def test_several_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("{frames: 5}", "{frams: 5}").replace("type: synthetic_sink", "type: synthetic_snk")
    message = problems_of(tmp_path, text)
    assert "unknown parameter 'frams'" in message and "unknown node type 'synthetic_snk'" in message


def test_set_override_errors_name_the_flag(tmp_path: Path) -> None:
    assert "no node named 'wrok'" in problems_of(tmp_path, GOOD, ["wrok.work_s=1"])
    assert "expected NODE.PARAM=VALUE" in problems_of(tmp_path, GOOD, ["work_s=1"])
    assert "unknown parameter 'wrk_s'" in problems_of(tmp_path, GOOD, ["work.wrk_s=1"])


def test_set_override_is_parsed_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    graph = load_graph(path, ["work.work_s=0.25", "source.fail_at=3"])
    assert graph.nodes["work"].params.work_s == 0.25
    assert graph.nodes["source"].params.fail_at == 3


BODY_TO_FACE = """\
nodes:
  - name: camera
    type: capture
    params: {source: 0}
  - name: detector
    type: detect
    inputs: {image: camera.image}
  - name: pose
    type: pose
    inputs: {image: camera.image, people: detector.detections}
    params: {model: some_model.onnx, schema: coco17}
  - name: smoother
    type: smooth
    inputs: {poses: pose.poses}
  - name: face
    type: face_landmarks
    inputs: {image: camera.image, people: pose.poses}
  - name: wholebody
    type: wholebody
    inputs: {body: smoother.poses, face: face.poses}
  - name: display
    type: display
    inputs: {image: camera.image, poses: wholebody.poses}
"""


def test_nodes_declare_the_keypoint_schemas_they_need_and_give(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(BODY_TO_FACE)
    assert list(load_graph(path).nodes)[-1] == "display"


def test_hand_keypoints_into_a_body_input_are_refused_with_file_and_line(tmp_path: Path) -> None:
    text = BODY_TO_FACE.replace("schema: coco17", "schema: hand21")
    message = problems_of(tmp_path, text)
    # the face node's input (line 17) and, through the smoother, the merge's body input (line 20)
    assert ":17: node 'face': input 'people' needs coco17 or coco_wholebody133 keypoints, but pose.poses gives hand21" \
        in message
    assert ":20: node 'wholebody': input 'body' needs coco17 or coco_wholebody133 keypoints, but smoother.poses " \
           "gives hand21" in message
    # a body where the hands belong is refused too
    text = BODY_TO_FACE.replace("{body: smoother.poses, face: face.poses}", "{body: smoother.poses, hands: pose.poses}")
    assert "input 'hands' needs hand21 keypoints, but pose.poses gives coco17" in problems_of(tmp_path, text)


def test_webcam_wholebody_graph_validates_with_the_hands_node() -> None:
    from rtpose.errors import PluginError
    from rtpose.plugins import get_node_type

    try:
        get_node_type("hand_landmarks")
    except PluginError:
        pytest.skip("the hand_landmarks node (branch hands) is not installed yet")
    graph = load_graph(Path(__file__).parents[1] / "graphs" / "webcam_wholebody.yaml")
    assert list(graph.nodes) == ["camera", "detector", "tracker", "pose", "hands", "face", "wholebody", "smoother",
                                 "display"]


def test_one_pass_reports_a_bad_param_a_bad_wire_and_a_cycle_together(tmp_path: Path) -> None:
    text = f"""\
plugins: [{PLUGIN}]
nodes:
  - name: source
    type: synthetic_source
    params: {{frames: many}}
  - name: work
    type: synthetic_work
    inputs: {{image: source.image, extra: source.image}}
  - name: loop
    type: synthetic_relay
    inputs: {{detections: loop2.detections}}
  - name: loop2
    type: synthetic_relay
    inputs: {{detections: loop.detections}}
"""
    message = problems_of(tmp_path, text)
    assert "bad.yaml:5: node 'source': parameter 'frames'" in message
    assert "bad.yaml:8: node 'work': node type 'synthetic_work' has no input 'extra'" in message
    assert "cycle through loop2 -> loop -> loop2" in message
    assert "no source node" not in message and "no node 'source'" not in message  # its own error says it all
