"""Sessions share no state: two sessions in two threads give what each gives alone."""

import threading

import numpy as np

from specpy.fit import Session


def _fit(counts, symmetric):
    s = Session(workers=1)
    s.data(counts, batch_axes=0)
    s.com("gauss2d")
    s.com("const")
    if symmetric:
        s.par_couple(1, 1, "fwhm_y", 1, 1, "fwhm_x")
    r = s.fit()
    return {name: r.values[name] for name in r.names}, r.stat


def test_two_sessions_in_two_threads(spots):
    a, _, _ = spots(400, 600.0, 10.0, seed=101)
    b, _, _ = spots(300, 2000.0, 3.0, seed=102)
    alone = [_fit(a, True), _fit(b, False)]
    results: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def run(index, counts, symmetric):
        barrier.wait()
        for _ in range(3):
            results[index] = _fit(counts, symmetric)

    threads = [threading.Thread(target=run, args=(0, a, True)), threading.Thread(target=run, args=(1, b, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    for index in (0, 1):
        values, stat = results[index]
        assert stat == alone[index][1]
        for name, value in alone[index][0].items():
            np.testing.assert_array_equal(values[name], value)
