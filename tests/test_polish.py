"""Symmetry-aware polishing: reduction and exact re-embedding, checked against the network function."""

import numpy as np

from lsexplorer.core.data.datasets import teacher_outputs, toy_teacher
from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.critical.polish import embed_point, find_reduction, reduce_point
from lsexplorer.core.symmetry.operations import duplicate_neuron


def test_reduction_of_a_duplicated_teacher_neuron_is_the_teacher_and_embeds_back_exactly():
    tspec, tth = toy_teacher()
    spec, wide = duplicate_neuron(tspec, tth, 1, 2, 1.5)
    wide = wide.copy()
    wide[8:10] += 1e-3  # the copy (last neuron) 1e-3 off its original
    red = find_reduction(spec, wide, 1, merge_tol=0.05, zero_tol=1e-3)
    assert red is not None and red.n_merged == 1 and red.n_dropped == 0
    np.testing.assert_allclose(red.share[[2, 4]], [1.5, -0.5], atol=1e-12)
    nspec, narrow = reduce_point(spec, wide, red)
    assert nspec.widths == (2, 4, 1)
    np.testing.assert_allclose(narrow, tth, atol=1e-3)
    back = embed_point(spec, wide, nspec, tth, red)  # embedding the exact teacher gives the exact line point
    np.testing.assert_allclose(back, duplicate_neuron(tspec, tth, 1, 2, 1.5)[1], rtol=0, atol=1e-15)


def test_dropped_neuron_keeps_its_incoming_weights_and_the_function():
    spec = MLPSpec((3, 4, 2), "tanh", bias=True)
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(spec.n_params)
    # neuron 1 of the hidden layer: zero outgoing column (W_2 is (2, 4), starting after W_1 (4x3) and b_1 (4)).
    theta[16 + np.array([1, 5])] = 0.0
    red = find_reduction(spec, theta, 1, merge_tol=1e-6, zero_tol=1e-3)
    assert red is not None and red.n_dropped == 1 and red.cluster[1] == -1
    nspec, narrow = reduce_point(spec, theta, red)
    x = rng.standard_normal((20, 3))
    np.testing.assert_allclose(teacher_outputs(nspec, narrow, x), teacher_outputs(spec, theta, x), atol=1e-14)
    back = embed_point(spec, theta, nspec, narrow, red)
    np.testing.assert_allclose(back, theta, rtol=0, atol=1e-15)


def test_nothing_to_reduce_at_distinct_neurons():
    tspec, tth = toy_teacher()
    assert find_reduction(tspec, tth, 1, merge_tol=0.05, zero_tol=1e-3) is None


def test_sign_flipped_duplicate_of_the_teacher_is_merged_and_keeps_its_orientation(toy):
    from lsexplorer.core.critical.polish import flip_for_merging
    from lsexplorer.core.critical.refine import refine
    from lsexplorer.core.symmetry.operations import match_to_teacher, sign_flip

    tspec, tth = toy_teacher()
    spec, wide = duplicate_neuron(tspec, tth, 1, 1, 2.0)  # outgoing weights -2 and +1 on one neuron
    wide = sign_flip(spec, wide, 1, [4, 3])  # the copy flipped, teacher neuron 3 flipped: constants cancel
    flips = flip_for_merging(spec, wide, 1, merge_tol=0.05)
    assert len(flips) == 2 and (1 in flips) != (4 in flips)
    start = wide + 1e-3 * np.random.default_rng(1).standard_normal(wide.shape)
    r = refine(spec, start, toy.x, toy.y)
    assert "flipped2:accepted" in r.stop_reason and r.loss < 1e-28
    assert match_to_teacher(spec, r.theta, tspec, tth).residual < 1e-10
    w = r.theta[:10].reshape(5, 2)
    np.testing.assert_allclose(w[4], -w[1], rtol=0, atol=1e-14)  # exact antipodes, in the start's orientation
    assert np.sign(r.theta[10:]).tolist() == np.sign(wide[10:]).tolist()
