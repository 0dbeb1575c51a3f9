"""BrainNetCNN layers: the defining sums, gradients on every device, and PyTorch's equivalent convolutions."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from models.brainnetcnn import BrainNetCNN, EdgeToEdge, EdgeToNode, NodeToGraph

RNG = np.random.default_rng(0)
A = RNG.normal(size=(2, 3, 5, 5))
NODES = RNG.normal(size=(2, 3, 5, 1))


def _w(p):
    return p.detach().numpy()


def test_layers_compute_their_defining_sums():
    e2e = EdgeToEdge(3, 4, 5).double()
    expected = (np.einsum("ock,ncik->noi", _w(e2e.weight_row), A)[..., None]
                + np.einsum("ock,nckj->noj", _w(e2e.weight_col), A)[:, :, None, :] + _w(e2e.bias)[None, :, None, None])
    np.testing.assert_allclose(e2e(engine.tensor(A)).detach().numpy(), expected, rtol=1e-12)
    e2n = EdgeToNode(3, 4, 5).double()
    expected = np.einsum("ock,ncik->noi", _w(e2n.weight), A) + _w(e2n.bias)[None, :, None]
    np.testing.assert_allclose(e2n(engine.tensor(A)).detach().numpy()[..., 0], expected, rtol=1e-12)
    n2g = NodeToGraph(3, 2, 5).double()
    expected = np.einsum("oci,nci->no", _w(n2g.weight), NODES[..., 0]) + _w(n2g.bias)
    np.testing.assert_allclose(n2g(engine.tensor(NODES)).detach().numpy()[..., 0, 0], expected, rtol=1e-12)


def test_edge_to_edge_mixes_only_edges_sharing_a_region():
    e2e = EdgeToEdge(1, 1, 6).double()
    x = np.zeros((1, 1, 6, 6))
    x[0, 0, 2, 4] = 1.0  # one edge (2, 4)
    out = e2e(engine.tensor(x)).detach().numpy()[0, 0] - _w(e2e.bias)[0]
    touched = np.zeros((6, 6), bool)
    touched[2, :] = touched[:, 4] = True  # row 2 and column 4 see it
    assert np.all(out[~touched] == 0) and np.all(out[touched] != 0)


@pytest.mark.parametrize("layer,x", [(lambda: EdgeToEdge(3, 2, 5), A), (lambda: EdgeToNode(3, 2, 5), A),
                                     (lambda: NodeToGraph(3, 2, 5), NODES)], ids=["e2e", "e2n", "n2g"])
def test_gradcheck_and_gradgradcheck(layer, x, device):
    module = layer().to(device)
    engine.gradcheck_module(module, engine.tensor(x, device=device))
    module = module.double()
    engine.gradgradcheck(lambda a: module(a), [engine.tensor(x, device=device, requires_grad=True)])


@pytest.mark.torch
def test_match_torch_convolutions(torch):
    # E2E = conv2d with a (1, R) kernel + conv2d with an (R, 1) kernel, broadcast and added (Kawahara's code)
    e2e = EdgeToEdge(3, 4, 5).double()
    x = torch.tensor(A, requires_grad=True)
    wr = torch.tensor(_w(e2e.weight_row))[:, :, None, :]  # (O, C, 1, R)
    wc = torch.tensor(_w(e2e.weight_col))[:, :, :, None]  # (O, C, R, 1)
    theirs = (torch.nn.functional.conv2d(x, wr) + torch.nn.functional.conv2d(x, wc)
              + torch.tensor(_w(e2e.bias))[None, :, None, None])
    ours_x = engine.tensor(A, requires_grad=True)
    ours = e2e(ours_x)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = RNG.normal(size=ours.shape)
    ours.backward(engine.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(ours_x.grad.numpy(), x.grad.numpy(), rtol=1e-10, atol=1e-12)
    e2n = EdgeToNode(3, 4, 5).double()
    theirs = torch.nn.functional.conv2d(torch.tensor(A), torch.tensor(_w(e2n.weight))[:, :, None, :],
                                        torch.tensor(_w(e2n.bias)))
    np.testing.assert_allclose(e2n(engine.tensor(A)).detach().numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"EdgeToEdge: input must be \(N, 3, 5, 5\), got shape \(2, 3, 5, 4\)"):
        EdgeToEdge(3, 2, 5)(engine.tensor(A[..., :4]))


def test_brainnetcnn_learns_a_planted_subnetwork_score():
    from tasks.data.phantoms import make_connectome_cohort

    d = make_connectome_cohort(n_subjects=300, n_regions=20, subnetwork_size=6, effect=0.3, score_noise=0.3, seed=0)
    x = d["connectomes"][:, None]
    x = (x - x[:200].mean(0)) / (x[:200].std(0) + 1e-6)
    y = (d["scores"] - d["scores"][:200].mean()) / d["scores"][:200].std()
    engine.manual_seed(0)
    model = BrainNetCNN(20, e2e=4, e2n=8, n2g=16, dropout=0.0)
    opt = engine.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = engine.tensor(x[:200].astype(np.float32)), engine.tensor(y[:200].astype(np.float32))
    for _ in range(60):
        opt.zero_grad()
        loss = engine.nn.functional.mse_loss(model(xt).reshape(-1), yt)
        loss.backward()
        opt.step()
    model.eval()
    with engine.no_grad():
        pred = model(engine.tensor(x[200:].astype(np.float32))).numpy()[:, 0]
    assert np.corrcoef(pred, y[200:])[0, 1] > 0.6
