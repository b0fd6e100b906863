"""vonedemo.vone_views: the VOneBlock page's pictures (gallery order, mosaics, maps, noise)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vonedemo import vone_views as vv
from vonedemo.vone import VOneBlock, VOneConfig


@pytest.fixture(scope="module")
def block():
    return VOneBlock(VOneConfig(simple_channels=6, complex_channels=4)).eval()


@pytest.fixture(scope="module")
def digit(test_data):
    return test_data.images[:1].clone()


def test_the_studys_bank_has_the_documented_shapes():
    b = VOneBlock(VOneConfig())
    assert vv.params_array(b).shape == (512, 5) and vv.params_array(b).dtype == np.float64
    assert tuple(b.bank.q0.shape) == (512, 1, 25, 25) and tuple(b.bank.q1.shape) == (256, 1, 25, 25)
    rows = vv.params_table(b)
    labels = list(vv.PARAM_LABELS.values())
    assert len(rows) == 512
    assert list(rows[0]) == ["channel", "cell", labels[0], "sf / Nyquist", *labels[1:]]
    assert {r["cell"] for r in rows[:256]} == {"simple"} and {r["cell"] for r in rows[256:]} == {
        "complex"
    }


@pytest.mark.parametrize("by", vv.SORT_KEYS)
@pytest.mark.parametrize("descending", [False, True])
def test_gallery_order_sorts_by_each_parameter(block, by, descending):
    order = vv.gallery_order(block, by, descending=descending)
    assert sorted(order.tolist()) == list(range(10))
    keys = (
        order.astype(float)
        if by == "index"
        else vv.params_array(block)[order, vv.PARAM_COLUMNS.index(by)]
    )
    assert np.all(np.diff(keys) <= 0) if descending else np.all(np.diff(keys) >= 0)


def test_gallery_order_by_cell_kind(block):
    assert set(vv.gallery_order(block, "sf", kind="simple").tolist()) == set(range(6))
    assert set(vv.gallery_order(block, "ori", kind="complex").tolist()) == set(range(6, 10))
    with pytest.raises(ValueError):
        vv.gallery_order(block, "colour")
    with pytest.raises(ValueError):
        vv.gallery_order(block, "sf", kind="hyper")


def test_filter_kernels(block):
    assert torch.equal(vv.filter_kernels(block, [2, 7]), block.bank.q0[[2, 7]])
    assert torch.equal(vv.filter_kernels(block, [7, 9], "q1"), block.bank.q1[[1, 3]])
    with pytest.raises(ValueError):
        vv.filter_kernels(block, [0], "q1")  # simple cells have no quadrature partner
    with pytest.raises(ValueError):
        vv.filter_kernels(block, [0], "q2")


def test_kernel_gallery(block):
    image, channels = vv.kernel_gallery(block, by="ori", count=7, columns=4, zoom=2)
    assert len(channels) == 7 and image.dtype == np.uint8 and image.shape[2] == 3
    assert image.shape[:2] == (2 * (48 + 1) + 1, 4 * (48 + 1) + 1)  # 24-pixel tiles, zoom 2
    uncropped, _ = vv.kernel_gallery(block, by="ori", count=7, columns=4, zoom=2, crop=False)
    assert uncropped.shape[:2] == (2 * (50 + 1) + 1, 4 * (50 + 1) + 1)  # 25-pixel kernels
    _, complex_only = vv.kernel_gallery(block, part="q1", count=100)
    assert set(complex_only.tolist()) == set(range(6, 10))


def test_diverging_and_heat_tiles():
    values = torch.tensor([[[0.0, 1.0], [-1.0, 0.5]]])
    rgb = vv.diverging_tiles(values)
    assert rgb.shape == (1, 2, 2, 3)
    assert rgb[0, 0, 0].tolist() == [255, 255, 255]  # zero: white
    assert rgb[0, 0, 1].tolist() == [255, 0, 0] and rgb[0, 1, 0].tolist() == [0, 0, 255]
    heat = vv.heat_tiles(np.array([[[0.0, 2.0]]]))
    assert heat[0, 0, 0].tolist() == [0, 0, 4] and heat[0, 0, 1].tolist() == [252, 253, 191]
    assert (
        vv.heat_tiles(np.array([[[0.0, 2.0]]]), vmax=4.0)[0, 0, 1].tolist()
        != heat[0, 0, 1].tolist()
    )


def test_mosaic_layout():
    tiles = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3)
    grid = vv.mosaic(tiles, columns=2, zoom=1, pad=1)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1)
    assert np.array_equal(grid[1:3, 1:4], tiles[0]) and np.array_equal(grid[4:6, 5:8], tiles[3])
    assert vv.mosaic(tiles, columns=10, zoom=2).shape == (2 * 2 + 2, 5 * (6 + 1) + 1)
    with pytest.raises(ValueError):
        vv.mosaic(tiles[0], columns=2)


def test_cell_maps_are_the_blocks_responses(block, digit):
    simple, complex_ = vv.cell_maps(block, digit)
    assert simple.shape == (6, 28, 28) and complex_.shape == (4, 28, 28)
    ref_s, ref_c = block.cell_responses(digit)
    assert torch.allclose(simple, ref_s[0]) and torch.allclose(complex_, ref_c[0])
    assert (simple >= 0).all() and (complex_ >= 0).all()
    top = vv.strongest_channels(torch.cat([simple, complex_]), 3)
    means = torch.cat([simple, complex_]).flatten(1).mean(1)
    assert means[top[0]] == means.max() and len(top) == 3
    with pytest.raises(ValueError):
        vv.cell_maps(block, torch.zeros(2, 1, 28, 28))


def test_noise_samples_are_seeded_and_leave_the_block_alone(block, digit):
    a = vv.noise_samples(block, digit, 3)
    b = vv.noise_samples(block, digit, 3)
    assert a.shape == (3, 10, 28, 28) and torch.equal(a, b)
    assert not torch.equal(a[0], a[1])
    assert torch.equal(vv.noise_samples(block, digit, 2, first_seed=1)[0], a[1])
    assert block.noise_mode == "neuronal"
    assert vv.noise_samples(block, digit, 0).shape == (0, 10, 28, 28)


def test_activation_change(block, digit):
    same = vv.activation_change(block, digit, digit.clone())
    assert same["relative_change"] == 0.0 and float(same["difference"].abs().max()) == 0.0
    moved = vv.activation_change(block, digit, (digit + 0.2).clamp(0, 1))
    assert moved["relative_change"] > 0 and moved["channel_change"].shape == (10,)
    assert torch.allclose(moved["difference"], moved["adversarial"] - moved["clean"])


def test_attacked_responses_see_the_attacks_float_adversarial(test_data):
    """The block's responses are compared on the adversarial the attack made, not on the view's
    uint8 pixels (which would round every change to a multiple of 1/255)."""
    from conftest import tiny_model

    from vonedemo.attack_view import AttackSettings, attack_batch_with_adversarial

    model = tiny_model("vone-basic-cnn").eval()
    image, label = test_data.images[3:4], test_data.labels[3:4]
    settings = AttackSettings(eps=0.1, gradient="repaired", noise="off")
    view, change = vv.attacked_responses(model, image, label, settings, index=3)
    again, adversarial = attack_batch_with_adversarial(model, image, label, settings, indices=[3])
    assert view.indices.tolist() == [3] and np.array_equal(view.adv_probs, again.adv_probs)
    expected = torch.cat(vv.cell_maps(model.vone, adversarial), 0)
    assert torch.equal(change["adversarial"], expected)
    assert change["relative_change"] > 0


def test_channel_name(block):
    params = vv.params_array(block)[7]
    assert vv.channel_name(block, 7) == (
        f"ch 7 (complex, sf {params[0]:.2f} cyc/deg, ori {params[1]:.0f}°)"
    )


def test_nyquist_and_resolvable_filters():
    study = VOneBlock(VOneConfig())  # 28 pixels over 8 degrees
    assert vv.nyquist(study) == pytest.approx(1.75)
    fine = vv.resolvable(study)
    assert fine.shape == (512,)
    assert np.array_equal(fine, vv.params_array(study)[:, 0] < 1.75)
    assert fine.mean() < 0.5  # most of the study's filters are finer than the grid
    wide = VOneBlock(VOneConfig(visual_degrees=2.5))  # the "resolvable" twin
    assert vv.nyquist(wide) == pytest.approx(5.6)
    assert vv.resolvable(wide).mean() > fine.mean()


def test_support_tiles_crop_a_small_kernel_and_keep_its_sign():
    kernel = torch.zeros(1, 1, 25, 25)
    kernel[0, 0, 12, 11], kernel[0, 0, 12, 13] = 1.0, -1.0  # a 3-pixel-wide filter
    tile = vv.support_tiles(kernel, size=24)[0]
    assert tile.shape == (24, 24)
    # cropped to the 3x3 centre and enlarged 8x: the left column positive, the right negative
    assert (tile[:8] == 0).all() and (tile[16:] == 0).all() and (tile[8:16, 8:16] == 0).all()
    assert (tile[8:16, 0:8] == 1.0).all() and (tile[8:16, 16:24] == -1.0).all()


def test_tuned_channels_give_one_resolvable_channel_per_orientation_band():
    block = VOneBlock(VOneConfig(visual_degrees=2.5))
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 6:22, 13:15] = 1.0  # a vertical stroke
    simple, _ = vv.cell_maps(block, image)
    chosen = vv.tuned_channels(block, simple, 0, orientations=8)
    params = vv.params_array(block)
    bands = (np.mod(params[chosen, 1], 180) // 22.5).astype(int)
    assert len(set(bands.tolist())) == len(chosen) >= 6  # one per band
    assert (params[chosen, 0] < vv.nyquist(block)).all()
