"""The line grpc_probe runs in the client pod to start the probe in the background
(grpclab.lab.probe_background), run here by sh with a stand-in probe: its output, stderr and exit
code land in their files, and a poll of the exit code's file never reads it empty (issue 19
defect 5: `echo $? > rc` creates the file before writing it, and '' | int is 0)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

from ansible_cli import ROOT

sys.path.insert(0, str(ROOT / "collections/ansible_collections/grpclab/lab/plugins/filter"))
from probe_background import probe_background

STAND_IN = (
    "import sys, time; time.sleep(0.3); print('{\"passed\": false}'); "
    "sys.stderr.write('cannot reach the Service\\n'); sys.exit(2)"
)


def test_the_exit_code_appears_whole_with_the_output(tmp_path):
    base = tmp_path / "probe"
    line = probe_background([sys.executable, "-c", STAND_IN], str(base))
    subprocess.run(shlex.split(line), check=True, timeout=10)
    rc = base.with_name("probe.rc")
    reads = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            reads.append(rc.read_text())
        except FileNotFoundError:
            continue
        if reads[-1]:
            break
    assert reads and all(read == "2\n" for read in reads), reads
    assert base.with_name("probe.json").read_text() == '{"passed": false}\n'
    assert base.with_name("probe.err").read_text() == "cannot reach the Service\n"
    assert not base.with_name("probe.rc.tmp").exists()
