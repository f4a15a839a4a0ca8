"""SIGINT/SIGTERM: raised at once outside storage writes, held until a write ends."""

from __future__ import annotations

import os
import signal

import pytest

from nas.search.signals import Interrupted, critical, graceful_stop


def test_a_signal_interrupts_at_once_outside_critical_sections():
    with graceful_stop(), pytest.raises(Interrupted, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**7):  # the handler runs between bytecodes
            pass


def test_a_signal_waits_for_the_critical_section_and_repeats_are_ignored():
    done = []
    with graceful_stop():
        with pytest.raises(Interrupted, match="SIGINT"):
            with critical():
                os.kill(os.getpid(), signal.SIGINT)
                with critical():  # nested: still held
                    done.append("inner write")
                done.append("outer write")
        with critical():  # while stopping, a second signal is ignored
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("clean-up write")
    assert done == ["inner write", "outer write", "clean-up write"]


def test_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with graceful_stop():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
