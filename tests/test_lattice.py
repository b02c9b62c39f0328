import numpy as np

from chequereader.framing import BACKGROUND
from chequereader.lattice import LatticeConfig, build_graph
from chequereader.types import BBox, Segmentation


def _seg(blocks, h=40, body=20.0, base=30.0):
    lab = np.zeros((h, max(b[0] + b[2] for b in blocks) + 5), np.int32)
    boxes = []
    for k, (x, y, w, hh) in enumerate(blocks):
        lab[y : y + hh, x : x + w] = k + 1
        boxes.append(BBox(x, y, w, hh))
    cut = [float(boxes[0].x)] + [(a.x2 + b.x) / 2 for a, b in zip(boxes, boxes[1:])] + [float(boxes[-1].x2)]
    return Segmentation(lab, tuple(boxes), tuple(cut), body, base)


def test_arcs_are_spans_of_up_to_max_span_pieces():
    seg = _seg([(0, 10, 6, 20), (8, 10, 6, 20), (16, 10, 6, 20), (24, 10, 6, 20)])
    g = build_graph(seg, LatticeConfig(max_span=3, max_width=10, max_gap=10))
    arcs = set(zip(g.src.tolist(), g.dst.tolist()))
    assert arcs == {(i, j) for i in range(4) for j in range(i + 1, min(4, i + 3) + 1)}
    assert g.n_nodes == 5 and g.images.shape == (g.n_arcs, 32, 32) and g.images.dtype == np.float32
    # arc (0, 2) box covers pieces 0 and 1 exactly
    a = [k for k in range(g.n_arcs) if (g.src[k], g.dst[k]) == (0, 2)][0]
    assert g.boxes[a].tolist() == [0, 10, 14, 20]


def test_candidate_image_holds_only_its_pieces():
    seg = _seg([(0, 10, 6, 20), (8, 28, 3, 3)])  # a digit and a small dot on the baseline
    g = build_graph(seg)
    single_dot = [k for k in range(g.n_arcs) if (g.src[k], g.dst[k]) == (1, 2)][0]
    img = g.images[single_dot]
    assert (img > 0.3).sum() < 20  # framed by the field's body: stays small
    ys, _ = np.nonzero(img > 0.3)
    assert ys.min() > 16  # and low


def test_wide_and_gapped_spans_are_left_out():
    seg = _seg([(0, 10, 10, 20), (60, 10, 10, 20)])  # far apart: no arc can join them
    g = build_graph(seg)
    assert (0, 2) not in set(zip(g.src.tolist(), g.dst.tolist()))
    seg = _seg([(0, 10, 18, 20), (19, 10, 18, 20), (38, 10, 18, 20)])
    g = build_graph(seg, LatticeConfig(max_width=2.0))
    assert (0, 3) not in set(zip(g.src.tolist(), g.dst.tolist()))
    wide = [k for k in range(g.n_arcs) if (g.src[k], g.dst[k]) == (0, 2)][0]
    assert g.geometric[wide] > 0 and g.geometric[0] == 0


def test_empty_segmentation_gives_one_node_no_arcs():
    seg = Segmentation(np.zeros((10, 10), np.int32), (), (0.0,), 0.0, 9.0)
    g = build_graph(seg)
    assert g.n_nodes == 1 and g.n_arcs == 0 and g.images.shape == (0, 32, 32)
    assert np.all(build_graph(_seg([(0, 10, 6, 20)])).images[0][0] == np.float32(BACKGROUND))
