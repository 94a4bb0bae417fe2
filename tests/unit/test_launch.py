"""Launching az on Windows without cmd.exe, tested on Linux with MSI-shaped trees and a patched platform."""

import pytest

from azwrap.az import launch
from azwrap.az import runner
from azwrap.az.redact import Redactor

# The two shapes of the MSI's wbin\az.cmd (REFERENCE.md section 6), with Windows line ends.
MSI_OLD = ("::\r\n:: Microsoft Azure CLI - Windows Installer - Author file components script\r\n::\r\n\r\n"
           '@IF EXIST "%~dp0\\..\\python.exe" (\r\n  SET AZ_INSTALLER=MSI\r\n'
           '  "%~dp0\\..\\python.exe" -IBm azure.cli %*\r\n) ELSE (\r\n'
           "  echo Failed to load python executable.\r\n  exit /b 1\r\n)\r\n")  # fmt: skip
MSI_NEW = ("@echo off\r\nsetlocal\r\n\r\n"
           'IF NOT EXIST "%~dp0\\..\\python.exe" GOTO pynotfound\r\nSET AZ_INSTALLER=MSI\r\n'
           '"%~dp0\\..\\python.exe" -IBm azure.cli %*\r\ngoto :EOF\r\n\r\n'
           ":pynotfound\r\necho Failed to load python executable.\r\nexit /b 1\r\n")  # fmt: skip
PIP_BAT = '@echo off\r\n"C:\\Python311\\python.exe" -m azure.cli %*\r\n'


@pytest.fixture
def windows(monkeypatch):
    """Platform facts of Windows: az found with PATHEXT, batch files through cmd.exe."""
    monkeypatch.setattr(launch, "is_windows", lambda: True)
    # Lower case: Windows matches names case-insensitively, the Linux file system running the tests does not.
    monkeypatch.setenv("PATHEXT", ".com;.exe;.bat;.cmd")


def msi_tree(root, content, python=True):
    """...\\CLI2\\wbin\\az.cmd and ...\\CLI2\\python.exe, as the MSI lays them out."""
    wbin = root / "Microsoft SDKs" / "Azure" / "CLI2" / "wbin"
    wbin.mkdir(parents=True)
    (wbin / "az.cmd").write_text(content, newline="")
    if python:
        (wbin.parent / "python.exe").write_bytes(b"MZ")
    return wbin


@pytest.mark.parametrize("shape", [MSI_OLD, MSI_NEW], ids=["if-exist-block", "setlocal-goto"])
def test_the_msi_az_cmd_is_found_on_path_and_its_python_run_directly(windows, tmp_path, monkeypatch, shape):
    wbin = msi_tree(tmp_path, shape)
    monkeypatch.setenv("PATH", f"{tmp_path / 'nothing'};{wbin}")
    found = launch.find(None)
    assert found == str(wbin / "az.cmd")
    started = launch.launcher(found)
    assert started.prefix == (str(wbin.parent / "python.exe"), "-IBm", "azure.cli")
    assert started.env == {"AZ_INSTALLER": "MSI"}
    assert not started.via_cmd
    started.refuse_unsafe("in&calc.csv", "--source")  # no cmd.exe on the way: any value is data


def test_the_current_directory_is_never_searched(windows, tmp_path, monkeypatch):
    planted = tmp_path / "clone"
    planted.mkdir()
    (planted / "az.cmd").write_text(MSI_OLD, newline="")
    (tmp_path / "python.exe").write_bytes(b"MZ")
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PATH", f".;;clone;{tmp_path / 'empty'}")  # relative entries too
    assert launch.find(None) is None
    # ... unless --az names it
    assert launch.find(str(planted / "az.cmd")) == str(planted / "az.cmd")


def test_the_current_directory_is_never_searched_on_posix_either(tmp_path, monkeypatch):
    planted = tmp_path / "clone"
    planted.mkdir()
    (planted / "az").write_text("#!/bin/sh\n")
    (planted / "az").chmod(0o755)
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PATH", ":.:clone")
    assert launch.find(None) is None
    with pytest.raises(runner.AzNotFound):
        runner.find_az(None)


@pytest.mark.parametrize("content,python", [(PIP_BAT, True), (MSI_OLD, False)], ids=["pip-az.bat", "msi-without-python"])
def test_an_unrecognised_batch_file_refuses_cmd_exe_specials_naming_the_value(windows, tmp_path, content, python):
    wbin = msi_tree(tmp_path, content, python=python)
    started = launch.launcher(str(wbin / "az.cmd"))
    assert started.via_cmd and started.prefix == (str(wbin / "az.cmd"),)
    for value in ("in&calc.csv", "rg(1)", "a|b", "x^y", "%PATH%", 'say"hi', "wow!", "a<b", "a>b"):
        with pytest.raises(launch.Unsafe, match="--source .*cmd.exe would interpret"):
            started.refuse_unsafe(value, "--source")
    started.refuse_unsafe("Central US", "--location")  # Python quotes spaces itself


def test_a_batch_file_az_refuses_a_special_value_with_exit_2_before_any_call(windows, tmp_path, fp, cli, workdir,
                                                                              monkeypatch):  # fmt: skip
    wbin = msi_tree(tmp_path, PIP_BAT)
    monkeypatch.setenv("PATH", str(wbin))
    (workdir / "in&calc.csv").write_text("a\n")
    result = cli("upload", "--account", "mydatalake", "--source", "in&calc.csv")
    assert result.exit_code == 2, result.output
    assert "--source 'in&calc.csv' holds '&'" in result.stderr
    assert len(fp.calls) == 0


def test_the_msi_python_receives_the_arguments_and_az_installer(windows, tmp_path, fp, monkeypatch):
    wbin = msi_tree(tmp_path, MSI_NEW)
    python = str(wbin.parent / "python.exe")
    seen = {}
    fp.register([python, "-IBm", "azure.cli", "group", "create", "--name", "rg(1)&x"], stdout="{}",
                callback=lambda process: seen.update(process.kwargs["env"]))  # fmt: skip
    az = runner.Runner(str(wbin / "az.cmd"), Redactor(), quiet=True)
    az.run("workspace", ["group", "create", "--name", "rg(1)&x"])
    assert fp.calls[0] == [python, "-IBm", "azure.cli", "group", "create", "--name", "rg(1)&x"]
    assert seen["AZ_INSTALLER"] == "MSI" and seen["AZURE_CORE_OUTPUT"] == "json"  # what az.cmd sets, and ours


def test_posix_launches_az_as_found(tmp_path):
    started = launch.launcher(str(tmp_path / "az"))
    assert started.prefix == (str(tmp_path / "az"),) and started.env == {} and not started.via_cmd


@pytest.mark.parametrize("option,value", [("--aml-group", "rg(1)"), ("--source", "in&calc.csv"), ("--upload-path", "a%PATH%b"),
                                          ("--source", "wow!.csv"), ("--upload-path", "x^y.csv")])  # fmt: skip
def test_the_powershell_script_refuses_values_az_cmd_would_mangle(cli, option, value):
    result = cli("plan", "--shell", "powershell", "--account", "mydatalake", option, value)
    assert result.exit_code == 2, result.output
    assert f"{option} {value!r} holds" in result.stderr and "--shell bash" in result.stderr
    assert result.stdout == ""
    bash = cli("plan", "--account", "mydatalake", "--shell", "bash", option, value)
    assert bash.exit_code == 0 and value in bash.stdout or repr(value)[1:-1] in bash.stdout


def test_doctor_says_how_az_is_run(windows, tmp_path, fp, cli, workdir, monkeypatch):
    import json

    wbin = msi_tree(tmp_path, MSI_OLD)
    python = str(wbin.parent / "python.exe")
    monkeypatch.setenv("PATH", str(wbin))
    fp.register([python, "-IBm", "azure.cli", "version"], stdout=json.dumps({"azure-cli": "2.91.0"}))
    fp.register([python, "-IBm", "azure.cli", "account", "show"], returncode=1, stdout="", stderr="ERROR: az login\n")
    fp.register([python, "-IBm", "azure.cli", "extension", "list"], stdout="[]")
    fp.register([python, "-IBm", "azure.cli", "extension", "list-available"], stdout="[]")
    result = cli("doctor")
    assert f"run as {python} -IBm azure.cli (the MSI's az.cmd, without cmd.exe)" in result.stdout
