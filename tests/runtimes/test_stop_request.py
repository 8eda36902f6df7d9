"""`StopRequest.raising_now`: signals while kernels compile end the run as an interrupt,
even when they land where the library cannot raise them."""

import signal

import pytest

from dist_classicrl.runtimes.driver import CompileInterrupted, StopRequest


class _SignalledInCallback:
    """Delivers SIGINT in ``__del__``: like llvmlite's object-cache hook, a place whose
    exception Python reports as unraisable ("Exception ignored") and does not raise."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


def _compile_that_loses_the_interrupt() -> None:
    _SignalledInCallback()  # dropped at once: __del__ runs here
    raise RuntimeError("no compiled object yet")  # what Numba's cache save then says


def test_an_error_after_a_swallowed_interrupt_raises_as_the_interrupt(capsys):
    stop = StopRequest()
    with stop.installed(), pytest.raises(CompileInterrupted) as caught:
        with stop.raising_now():
            _compile_that_loses_the_interrupt()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert stop.signal_name == "SIGINT"
    assert "Exception ignored" not in capsys.readouterr().err


def test_an_error_without_a_signal_stays_that_error():
    stop = StopRequest()
    with stop.installed(), pytest.raises(RuntimeError, match="no compiled object"):
        with stop.raising_now():
            raise RuntimeError("no compiled object yet")
    assert not stop.requested


def test_a_signal_before_the_block_does_not_turn_its_errors_into_interrupts():
    stop = StopRequest()
    stop.request(signal.SIGTERM)
    with stop.installed(), pytest.raises(ValueError):
        with stop.raising_now():
            raise ValueError("a real failure")
