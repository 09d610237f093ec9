"""A conformance kit for Webex clients: run any client through the cloud's hard cases and get
a verdict for each, judged from what the emulator recorded.

``webex-meetings conformance --client python`` (our library), ``--client js`` (the official
JS SDK) or ``-- COMMAND ...`` (anything else). The pieces:

* :mod:`.scenarios`: the hard cases, as a table (:data:`SCENARIOS`), arranged by
  :mod:`.steps` (calls of the emulator's control API);
* :mod:`.runner`: the emulator, a fresh state and token per scenario, the client as a
  subprocess with the environment of :data:`ENVIRONMENT`;
* :mod:`.judge`: the verdict (pass, fail, hang) from the emulator's records only;
* :mod:`.report`: the terminal table, JSON, JUnit XML and markdown;
* :mod:`.clients` and :mod:`.reference_client`: the clients the kit knows.
"""

from __future__ import annotations

from .clients import Client, ClientSetupError, NodeMissingError
from .judge import Finding, Outcome, RunFacts, Verdict, judge
from .runner import DEFAULT_TIMEOUT, ENVIRONMENT, Kit, Run
from .scenarios import QUICK, SCENARIOS, Expectation, Leftover, Scenario, UnknownScenarioError

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENVIRONMENT",
    "QUICK",
    "SCENARIOS",
    "Client",
    "ClientSetupError",
    "Expectation",
    "Finding",
    "Kit",
    "Leftover",
    "NodeMissingError",
    "Outcome",
    "Run",
    "RunFacts",
    "Scenario",
    "UnknownScenarioError",
    "Verdict",
    "judge",
]
