"""plot() writes a PNG headlessly when matplotlib is there, and says what to install when not."""

import pytest

from specpy.fit import Session


@pytest.mark.parametrize("shape", [(40,), (12, 12)])
def test_plot_writes_a_png(tmp_path, shape, line, spots):
    pytest.importorskip("matplotlib")
    s = Session()
    if len(shape) == 1:
        counts, _ = line(1, 3)
        s.data(counts[0])
        s.com("gauss1d")
    else:
        counts, _, _ = spots(2, 800.0, 5.0, size=12, seed=3)
        s.data(counts, batch_axes=0)
        s.com("gauss2d")
    s.com("const")
    s.fit()
    path = tmp_path / "fit.png"
    s.plot(path, item=0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(IndexError, match="item 5 does not exist"):
        s.plot(path, item=5)
